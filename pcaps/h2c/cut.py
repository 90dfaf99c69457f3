#!/usr/bin/env python3
"""h2c-upgrade-no-request.pcap: h2c-upgrade.pcap from the first frame after the client's
upgrade request (the handshake and the request dropped), as a capture that starts between a
request and its `101 Switching Protocols` sees it. Standard library only; run from the
repository root: python3 pcaps/h2c/cut.py"""
import struct
from pathlib import Path

SRC = Path("pcaps/h2c/h2c-upgrade.pcap")
OUT = Path("pcaps/h2c/h2c-upgrade-no-request.pcap")
DROP = 4  # SYN, SYN-ACK, ACK, GET /upgrade?x=1 with Upgrade: h2c

data = SRC.read_bytes()
order = "<" if data[:4] == bytes.fromhex("d4c3b2a1") else ">"
out, pos, n = [data[:24]], 24, 0
while pos + 16 <= len(data):
    incl = struct.unpack_from(order + "I", data, pos + 8)[0]
    if n >= DROP:
        out.append(data[pos:pos + 16 + incl])
    pos += 16 + incl
    n += 1
OUT.write_bytes(b"".join(out))
print(f"wrote {OUT}: {n - DROP} of {n} frames")
