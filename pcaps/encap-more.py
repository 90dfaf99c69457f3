#!/usr/bin/env python3
"""Re-encapsulates real captures into the tunnels and link types of mobile cores, IPv6
transition and firewalls, which this machine's kernel would not produce live:

  pcaps/tunnels/gtpu.pcap            GTP-U (UDP 2152), TEID 0x1234 each way, every G-PDU with
                                     a PDU session container extension header (5G), plus an
                                     echo request (signalling, no user packet)
  pcaps/tunnels/gtpu-fragments.pcap  the same, the outer IPv4 packets fragmented at 576 bytes
                                     (a GTP-U path MTU smaller than the user's packets)
  pcaps/tunnels/teredo.pcap          Teredo (UDP 3544): the inner packets as IPv6 (fd00::1 /
                                     fd00::2), the relay's packets with an origin indication,
                                     the first client packet with an authentication header, and
                                     bubbles (IPv6, no next header) between them
  pcaps/tunnels/ayiya.pcap           AYIYA (UDP 5072): IPv6 inside, SHA-1 signature, identity
  pcaps/tunnels/gre-udp.pcap         GRE in UDP (UDP 4754, RFC 8086), key 0x1001
  pcaps/links/nflog.pcap             LINKTYPE_NFLOG (239), as `tcpdump -i nflog:5` writes it:
                                     little-endian TLVs, packet header, prefix, payload
  pcaps/links/llc-snap.pcap          IEEE 802.3 frames with LLC/SNAP (AA AA 03, OUI 0, EtherType)
  pcaps/tunnels/pgsql-vxlan.pcap     the PostgreSQL capture (pcaps/pgsql) in VXLAN (VNI 4242)
  pcaps/tunnels/redis-vxlan.pcap     the Redis capture (pcaps/redis) in VXLAN (VNI 4242)

Sources: pcaps/http/client-veth.pcap (tunnels, NFLOG) and pcaps/lenient/lenient.pcap (LLC/SNAP:
802.3 frames hold at most 1500 bytes, so the source's packets must be small). Outer addresses
as pcaps/reencap.py's: A 192.0.2.10 (client side) -> B 192.0.2.11. Standard library only;
deterministic. Run from the repository root: python3 pcaps/encap-more.py
"""
import ipaddress
import struct
import sys
from pathlib import Path

MAC_A, MAC_B = bytes.fromhex("02005e00530a"), bytes.fromhex("02005e00530b")
V4_A, V4_B = bytes([192, 0, 2, 10]), bytes([192, 0, 2, 11])
CLIENT = bytes([10, 200, 1, 2])
INNER6_CLIENT = ipaddress.IPv6Address("fd00::1").packed
INNER6_SERVER = ipaddress.IPv6Address("fd00::2").packed


def read_pcap(path):
    data = Path(path).read_bytes()
    if data[:4] != bytes.fromhex("d4c3b2a1") or struct.unpack_from("<I", data, 20)[0] != 1:
        sys.exit(f"{path}: expected a little-endian microsecond Ethernet pcap")
    pos, records = 24, []
    while pos + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack_from("<IIII", data, pos)
        records.append((sec, usec, data[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    return records


def write_pcap(path, linktype, records):
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for sec, usec, frame in records:
        out.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    Path(path).write_bytes(b"".join(out))
    print(f"wrote {path} ({len(records)} frames)")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ident=0, frag=0, more=False):
    flags = (0x2000 if more else 0) | (frag // 8)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags, 64, proto, 0,
                      src, dst)
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def udp(sport, dport, payload):
    # A zero checksum is allowed over IPv4 and is what tunnel endpoints usually send.
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def inner_packets(path):
    """(sec, usec, IPv4 packet, from_client) of each Ethernet/IPv4 frame."""
    for sec, usec, frame in read_pcap(path):
        if frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        total = struct.unpack_from("!H", ip, 2)[0]
        yield sec, usec, ip[:total], ip[12:16] == CLIENT


def to_ipv6(packet, from_client):
    """The IPv4/TCP packet as IPv6/TCP between fd00::1 and fd00::2, TCP checksum redone."""
    ihl = (packet[0] & 0x0F) * 4
    tcp = bytearray(packet[ihl:])
    src, dst = (INNER6_CLIENT, INNER6_SERVER) if from_client else (INNER6_SERVER, INNER6_CLIENT)
    tcp[16:18] = b"\0\0"
    pseudo = src + dst + struct.pack("!I", len(tcp)) + b"\0\0\0\x06"
    tcp[16:18] = struct.pack("!H", csum(pseudo + bytes(tcp)))
    return struct.pack("!IHBB", 6 << 28, len(tcp), 6, packet[8]) + src + dst + bytes(tcp)


def outer(from_client, l4):
    """Ethernet + IPv4 A<->B carrying `l4` (a UDP datagram)."""
    src, dst = (V4_A, V4_B) if from_client else (V4_B, V4_A)
    macs = MAC_B + MAC_A if from_client else MAC_A + MAC_B
    return macs + b"\x08\x00" + ipv4(src, dst, 17, l4)


def flow_port(packet):
    ihl = (packet[0] & 0x0F) * 4
    sport, dport = struct.unpack_from("!HH", packet, ihl)
    return 49152 + (sport ^ dport) % 16384


def gtpu_header(payload, teid):
    # Flags 0x34: version 1, PT 1, E (an extension header follows). Sequence and N-PDU zero,
    # next extension 0x85 (PDU session container): one 4-byte unit, QFI 9, then no more.
    ext = bytes([1, 0x00, 0x09, 0x00])
    body = struct.pack("!HBB", 0, 0, 0x85) + ext + payload
    return struct.pack("!BBHI", 0x34, 0xFF, len(body), teid) + body


def gtpu(src):
    out = []
    for i, (sec, usec, packet, from_client) in enumerate(inner_packets(src)):
        if i == 0:
            echo = struct.pack("!BBHI", 0x32, 1, 4, 0) + struct.pack("!HBB", 1, 0, 0)
            out.append((sec, usec, outer(True, udp(2152, 2152, echo))))
        teid = 0x1234 if from_client else 0x5678
        out.append((sec, usec, outer(from_client, udp(2152, 2152, gtpu_header(packet, teid)))))
    return out


def fragmented(records, mtu=576):
    """Each outer IPv4 packet longer than `mtu` split into fragments (offsets in 8 bytes)."""
    out = []
    for n, (sec, usec, frame) in enumerate(records):
        ip = frame[14:]
        if len(ip) <= mtu:
            out.append((sec, usec, frame))
            continue
        payload, src, dst = ip[20:], ip[12:16], ip[16:20]
        step = (mtu - 20) // 8 * 8
        for off in range(0, len(payload), step):
            part = payload[off:off + step]
            more = off + step < len(payload)
            out.append((sec, usec, frame[:14] + ipv4(src, dst, 17, part, n + 1, off, more)))
    return out


def teredo(src):
    out = []
    bubble = struct.pack("!IHBB", 6 << 28, 0, 59, 64)
    for i, (sec, usec, packet, from_client) in enumerate(inner_packets(src)):
        six = to_ipv6(packet, from_client)
        if from_client:
            header = b""
            if i == 0:
                # Authentication: no client id, no value, an 8-byte nonce, confirmation 0.
                header = bytes([0, 1, 0, 0]) + bytes(range(8)) + b"\0"
                out.append((sec, usec, outer(True, udp(40000, 3544, bubble + INNER6_CLIENT + INNER6_SERVER))))
            out.append((sec, usec, outer(True, udp(40000, 3544, header + six))))
        else:
            # Origin indication: the obfuscated port and address of the packet's origin.
            origin = struct.pack("!HH4s", 0, 40000 ^ 0xFFFF, bytes(b ^ 0xFF for b in V4_B))
            out.append((sec, usec, outer(False, udp(3544, 40000, origin + six))))
    return out


def ayiya(src):
    out = []
    for sec, usec, packet, from_client in inner_packets(src):
        identity = INNER6_CLIENT if from_client else INNER6_SERVER
        # Identity length 2^4 = 16 (IPv6 address), signature 5 words (SHA-1), shared secret,
        # opcode forward, next header 41 (IPv6), epoch time.
        header = bytes([0x41, 0x52, 0x11, 41]) + struct.pack("!I", sec) + identity + bytes(20)
        l4 = udp(5072, 5072, header + to_ipv6(packet, from_client))
        out.append((sec, usec, outer(from_client, l4)))
    return out


def gre_udp(src):
    out = []
    for sec, usec, packet, from_client in inner_packets(src):
        gre = struct.pack("!HHI", 0x2000, 0x0800, 0x1001) + packet
        out.append((sec, usec, outer(from_client, udp(flow_port(packet), 4754, gre))))
    return out


def vxlan(src):
    """Each whole Ethernet frame in VXLAN (VNI 4242, UDP 4789) between A and B."""
    out = []
    records = read_pcap(src)
    first_src = records[0][2][6:12] if records else b""
    for sec, usec, frame in records:
        from_client = frame[6:12] == first_src
        packet = frame[14:]
        port = flow_port(packet) if frame[12:14] == b"\x08\x00" else 49152
        header = struct.pack("!II", 0x08000000, 4242 << 8)
        out.append((sec, usec, outer(from_client, udp(port, 4789, header + frame))))
    return out


def tlv(kind, value):
    padded = value + bytes(-len(value) % 4)
    return struct.pack("<HH", 4 + len(value), kind) + padded


def nflog(src):
    out = []
    for sec, usec, packet, _ in inner_packets(src):
        record = bytes([2, 0]) + struct.pack("!H", 5)
        record += tlv(1, struct.pack("!HBB", 0x0800, 3, 0))  # NFULA_PACKET_HDR: IPv4, hook
        record += tlv(10, b"wirespan\0")  # NFULA_PREFIX
        record += tlv(9, packet)  # NFULA_PAYLOAD
        out.append((sec, usec, record))
    return out


def llc_snap(src):
    out = []
    for sec, usec, frame in read_pcap(src):
        snap = b"\xaa\xaa\x03\x00\x00\x00" + frame[12:14] + frame[14:]
        if len(snap) > 1500:
            sys.exit(f"{src}: a frame too long for 802.3")
        out.append((sec, usec, frame[:12] + struct.pack("!H", len(snap)) + snap))
    return out


def main():
    http = "pcaps/http/client-veth.pcap"
    write_pcap("pcaps/tunnels/gtpu.pcap", 1, gtpu(http))
    write_pcap("pcaps/tunnels/gtpu-fragments.pcap", 1, fragmented(gtpu(http)))
    write_pcap("pcaps/tunnels/teredo.pcap", 1, teredo(http))
    write_pcap("pcaps/tunnels/ayiya.pcap", 1, ayiya(http))
    write_pcap("pcaps/tunnels/gre-udp.pcap", 1, gre_udp(http))
    write_pcap("pcaps/links/nflog.pcap", 239, nflog(http))
    write_pcap("pcaps/links/llc-snap.pcap", 1, llc_snap("pcaps/lenient/lenient.pcap"))
    write_pcap("pcaps/tunnels/pgsql-vxlan.pcap", 1, vxlan("pcaps/pgsql/psycopg.pcap"))
    write_pcap("pcaps/tunnels/redis-vxlan.pcap", 1, vxlan("pcaps/redis/redis.pcap"))


if __name__ == "__main__":
    main()
