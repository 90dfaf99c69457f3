#!/usr/bin/env python3
"""Rewrites the real Ethernet capture pcaps/http/client-veth.pcap into the other link types and
timestamp formats wirespan reads, byte for byte the same IP packets:

  pcaps/links/sll.pcap       Linux cooked capture v1 (LINKTYPE_LINUX_SLL, 113)
  pcaps/links/sll2.pcap      Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, 276); every frame twice,
                             as seen on interface index 3 and on index 7 (two capture points)
  pcaps/links/raw-ip.pcap    raw IP (LINKTYPE_RAW, 101)
  pcaps/links/nanosec.pcap   Ethernet with the nanosecond pcap magic (a1b23c4d)
  pcaps/links/big-endian.pcap Ethernet, microsecond, big-endian file

Standard library only; deterministic. Run from the repository root: python3 pcaps/relink.py
"""
import struct
import sys
from pathlib import Path

SRC = Path("pcaps/http/client-veth.pcap")
OUT = Path("pcaps/links")


def read_pcap(path):
    data = path.read_bytes()
    magic = data[:4]
    if magic != bytes.fromhex("d4c3b2a1"):
        sys.exit(f"{path}: expected a little-endian microsecond pcap")
    linktype = struct.unpack_from("<I", data, 20)[0]
    if linktype != 1:
        sys.exit(f"{path}: expected Ethernet")
    pos, records = 24, []
    while pos + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, pos)
        records.append((sec, usec, data[pos + 16:pos + 16 + incl], orig))
        pos += 16 + incl
    return records


def write_pcap(path, linktype, records, magic="<", nanos=False):
    order = magic
    head = struct.pack(order + "IHHiIII", 0xA1B23C4D if nanos else 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    out = [head]
    for sec, frac, frame, orig in records:
        out.append(struct.pack(order + "IIII", sec, frac, len(frame), orig))
        out.append(frame)
    path.write_bytes(b"".join(out))


def main():
    records = read_pcap(SRC)
    OUT.mkdir(parents=True, exist_ok=True)
    client_mac = records[0][2][6:12]
    sll, sll2, raw = [], [], []
    for sec, usec, frame, orig in records:
        ethertype = frame[12:14]
        ip = frame[14:]
        src_mac = frame[6:12]
        outgoing = src_mac == client_mac
        pkttype = 4 if outgoing else 0
        sll_head = struct.pack(">HHH", pkttype, 1, 6) + src_mac + b"\0\0" + ethertype
        sll.append((sec, usec, sll_head + ip, orig - 14 + 16))
        for ifindex in (3, 7):
            head = ethertype + b"\0\0" + struct.pack(">IHBB", ifindex, 1, pkttype, 6) + src_mac + b"\0\0"
            sll2.append((sec, usec, head + ip, orig - 14 + 20))
        raw.append((sec, usec, ip, orig - 14))
    write_pcap(OUT / "sll.pcap", 113, sll)
    write_pcap(OUT / "sll2.pcap", 276, sll2)
    write_pcap(OUT / "raw-ip.pcap", 101, raw)
    write_pcap(OUT / "nanosec.pcap", 1, [(s, u * 1000, f, o) for s, u, f, o in records], nanos=True)
    write_pcap(OUT / "big-endian.pcap", 1, records, magic=">")
    print(f"wrote {len(records)} frames into 5 files under {OUT}")


if __name__ == "__main__":
    main()
