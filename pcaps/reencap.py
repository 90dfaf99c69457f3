#!/usr/bin/env python3
"""Re-encapsulate the real frames of pcaps/http/client-veth.pcap into tunnel
formats this kernel would not produce live, and hand-craft edge-case files.

    python3 pcaps/reencap.py          (after sudo bash pcaps/gen-http.sh)

Needs scapy (pip install scapy).  Inputs: pcaps/http/client-veth.pcap and
pcaps/http/http.expected.json.  Outputs (timestamps of the original frames
are kept; pcap, microsecond, LINKTYPE_ETHERNET):

  pcaps/tunnels/*.pcap + tunnels.json     one file per encapsulation
  pcaps/edge/*.pcap    + edge.json        damaged captures + what a correct
                                          parser should report

Fixed outer addressing (A = tunnel endpoint on the client side, B = on the
server side; a frame travels A->B when its inner source is the client):

  outer MAC   A 02:00:5e:00:53:0a   B 02:00:5e:00:53:0b
  outer IPv4  A 192.0.2.10          B 192.0.2.11        (TEST-NET-1)
  outer IPv6  A 2001:db8:1::a       B 2001:db8:1::b     (documentation)
  inner IPv6 (6in4 / 6in6 translation of the inner IPv4 packets):
              client 10.200.1.2 -> fd00::1, server 10.200.2.2 -> fd00::2
  VLAN        802.1Q C-tag 100, 802.1ad S-tag 200
  VXLAN       VNI 4242 (UDP 4789, and 8472 for vxlan-8472.pcap)
  GENEVE      VNI 777 (UDP 6081), protocol 0x6558 (Ethernet)
  GRE         key 0x00001001 (4097) + sequence number, protocol 0x0800
  GRE-TEB     no key / no sequence, protocol 0x6558
  ERSPAN II   GRE (sequence number present) protocol 0x88be, session 77
  outer UDP source port = 49152 + (inner sport XOR inner dport) % 16384,
  i.e. stable per inner flow as a Linux sender's flow hash would be.

The outer frames are up to 1514 + overhead bytes (they are never
fragmented): they model a link whose MTU was raised for the overlay.
"""
import json
import os
import struct
import sys

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether, GRE
from scapy.layers.vxlan import VXLAN
from scapy.contrib.geneve import GENEVE
from scapy.contrib.erspan import ERSPAN_II
from scapy.packet import Raw

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_PCAP = os.path.join(HERE, "http", "client-veth.pcap")
SRC_EXPECTED = os.path.join(HERE, "http", "http.expected.json")
TUN_DIR = os.path.join(HERE, "tunnels")
EDGE_DIR = os.path.join(HERE, "edge")

MAC_A, MAC_B = "02:00:5e:00:53:0a", "02:00:5e:00:53:0b"
V4_A, V4_B = "192.0.2.10", "192.0.2.11"
V6_A, V6_B = "2001:db8:1::a", "2001:db8:1::b"
INNER6_CLIENT, INNER6_SERVER = "fd00::1", "fd00::2"
CTAG, STAG = 100, 200
VXLAN_VNI = 4242
GENEVE_VNI = 777
GRE_KEY = 0x1001
ERSPAN_SESSION = 77


# --------------------------------------------------------------------------
# pcap I/O (own, so caplen < len can be written exactly)

def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xA1B2C3D4:
        end = "<"
    elif magic == 0xD4C3B2A1:
        end = ">"
    else:
        sys.exit("%s: not a microsecond pcap (magic %08x)" % (path, magic))
    linktype = struct.unpack(end + "I", data[20:24])[0]
    if linktype != 1:
        sys.exit("%s: linktype %d, want 1 (Ethernet)" % (path, linktype))
    out, off = [], 24
    while off + 16 <= len(data):
        sec, usec, caplen, wirelen = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        out.append({"sec": sec, "usec": usec, "data": data[off:off + caplen],
                    "len": wirelen})
        off += caplen
    return out


def write_pcap(path, frames):
    """frames: dicts with sec, usec, data and optionally len (wire length)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for fr in frames:
            data = fr["data"]
            f.write(struct.pack("<IIII", fr["sec"], fr["usec"], len(data),
                                fr.get("len", len(data))))
            f.write(data)


# --------------------------------------------------------------------------
# helpers on raw frames

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4_fix_checksum(hdr):
    hdr = bytearray(hdr)
    hdr[10:12] = b"\0\0"
    hdr[10:12] = struct.pack("!H", csum(bytes(hdr)))
    return bytes(hdr)


def split_frame(frame):
    """Ethernet/IPv4/TCP frame -> dict of parts (raises if not that)."""
    if struct.unpack("!H", frame[12:14])[0] != 0x0800:
        raise ValueError("not IPv4")
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    proto = ip[9]
    l4 = ip[ihl:total]
    d = {"eth": frame[:14], "ip_hdr": ip[:ihl], "ip": ip[:total],
         "l4": l4, "proto": proto, "src": ".".join(map(str, ip[12:16])),
         "dst": ".".join(map(str, ip[16:20])), "ttl": ip[8], "tos": ip[1],
         "id": struct.unpack("!H", ip[4:6])[0]}
    if proto == 6:
        d["sport"], d["dport"], d["seq"] = struct.unpack("!HHI", l4[:8])
        d["tcp_hlen"] = (l4[12] >> 4) * 4
        d["tcp_flags"] = l4[13]
        d["payload"] = l4[d["tcp_hlen"]:]
    return d


def ipv6_addr_bytes(a):
    import ipaddress
    return ipaddress.IPv6Address(a).packed


def translate_to_ipv6(parts, client_ip):
    """Inner IPv4/TCP packet -> IPv6/TCP packet with fd00::1/fd00::2 and a
    recomputed TCP checksum (payload bytes unchanged)."""
    if parts["src"] == client_ip:
        src, dst = INNER6_CLIENT, INNER6_SERVER
    else:
        src, dst = INNER6_SERVER, INNER6_CLIENT
    s6, d6 = ipv6_addr_bytes(src), ipv6_addr_bytes(dst)
    tcp = bytearray(parts["l4"])
    tcp[16:18] = b"\0\0"
    pseudo = s6 + d6 + struct.pack("!I", len(tcp)) + b"\0\0\0" + bytes([6])
    tcp[16:18] = struct.pack("!H", csum(pseudo + bytes(tcp)))
    hdr = struct.pack("!IHBB", (6 << 28) | (parts["tos"] << 20), len(tcp), 6,
                      parts["ttl"]) + s6 + d6
    return hdr + bytes(tcp)


# --------------------------------------------------------------------------
# tunnels

class Tunnels:
    def __init__(self, frames, client_ip):
        self.frames = frames
        self.client_ip = client_ip
        self.parts = [split_frame(f["data"]) for f in frames]

    def a_to_b(self, p):
        return p["src"] == self.client_ip

    def outer_eth(self, p, etype):
        if self.a_to_b(p):
            return Ether(src=MAC_A, dst=MAC_B, type=etype)
        return Ether(src=MAC_B, dst=MAC_A, type=etype)

    def outer_v4(self, p, proto, ipid):
        s, d = (V4_A, V4_B) if self.a_to_b(p) else (V4_B, V4_A)
        return IP(src=s, dst=d, proto=proto, id=ipid & 0xFFFF, flags="DF",
                  ttl=64)

    def outer_v6(self, p, nh):
        s, d = (V6_A, V6_B) if self.a_to_b(p) else (V6_B, V6_A)
        return IPv6(src=s, dst=d, nh=nh, hlim=64)

    @staticmethod
    def udp_sport(p):
        return 49152 + ((p["sport"] ^ p["dport"]) % 16384)

    def build(self, name):
        out = []
        seq = {True: 0, False: 0}
        for i, (fr, p) in enumerate(zip(self.frames, self.parts)):
            frame = fr["data"]
            ab = self.a_to_b(p)
            seq[ab] += 1
            n = seq[ab]
            ipid = 0x4000 + n if ab else 0x8000 + n
            eth_payload = frame[14:]
            if name == "vlan":
                raw = frame[:12] + struct.pack("!HH", 0x8100, CTAG) + frame[12:]
            elif name == "qinq":
                raw = (frame[:12] + struct.pack("!HH", 0x88A8, STAG)
                       + struct.pack("!HH", 0x8100, CTAG) + frame[12:])
            elif name == "ipip-4in4":
                raw = bytes(self.outer_eth(p, 0x0800) / self.outer_v4(p, 4, ipid)
                            / Raw(p["ip"]))
            elif name == "ipip-6in4":
                raw = bytes(self.outer_eth(p, 0x0800) / self.outer_v4(p, 41, ipid)
                            / Raw(translate_to_ipv6(p, self.client_ip)))
            elif name == "ipip-4in6":
                raw = bytes(self.outer_eth(p, 0x86DD) / self.outer_v6(p, 4)
                            / Raw(p["ip"]))
            elif name == "ipip-6in6":
                raw = bytes(self.outer_eth(p, 0x86DD) / self.outer_v6(p, 41)
                            / Raw(translate_to_ipv6(p, self.client_ip)))
            elif name == "gre":
                raw = bytes(self.outer_eth(p, 0x0800) / self.outer_v4(p, 47, ipid)
                            / GRE(key_present=1, seqnum_present=1, key=GRE_KEY,
                                  sequence_number=n, proto=0x0800)
                            / Raw(p["ip"]))
            elif name == "gre-teb":
                raw = bytes(self.outer_eth(p, 0x0800) / self.outer_v4(p, 47, ipid)
                            / GRE(proto=0x6558) / Raw(frame))
            elif name == "erspan2":
                raw = bytes(self.outer_eth(p, 0x0800) / self.outer_v4(p, 47, ipid)
                            / GRE(seqnum_present=1, sequence_number=n,
                                  proto=0x88BE)
                            / ERSPAN_II(ver=1, vlan=0, cos=0, en=0, t=0,
                                        session_id=ERSPAN_SESSION, index=1)
                            / Raw(frame))
            elif name == "geneve":
                raw = bytes(self.outer_eth(p, 0x0800) / self.outer_v4(p, 17, ipid)
                            / UDP(sport=self.udp_sport(p), dport=6081)
                            / GENEVE(vni=GENEVE_VNI, proto=0x6558)
                            / Raw(frame))
            elif name == "vxlan-in-qinq":
                outer = (self.outer_eth(p, 0x88A8) / Dot1AD(vlan=STAG, type=0x8100)
                         / Dot1Q(vlan=CTAG, type=0x0800))
                raw = bytes(outer / self.outer_v4(p, 17, ipid)
                            / UDP(sport=self.udp_sport(p), dport=4789)
                            / VXLAN(flags=0x08, vni=VXLAN_VNI) / Raw(frame))
            elif name == "vxlan-8472":
                raw = bytes(self.outer_eth(p, 0x0800) / self.outer_v4(p, 17, ipid)
                            / UDP(sport=self.udp_sport(p), dport=8472)
                            / VXLAN(flags=0x08, vni=VXLAN_VNI) / Raw(frame))
            else:
                raise ValueError(name)
            out.append({"sec": fr["sec"], "usec": fr["usec"], "data": raw})
        return out


TUNNELS = [
    # name, description, tshark -d decode-as (or None), protocol chain
    # expected at the start of frame.protocols of a request frame, metadata
    ("vlan", "802.1Q C-tag 100 inserted into the original frame", None,
     "eth:ethertype:vlan:ethertype:ip:tcp:http",
     {"type": "vlan", "vlan_ids": [CTAG]}),
    ("qinq", "802.1ad S-tag 200 (TPID 0x88a8) + 802.1Q C-tag 100", None,
     "eth:ethertype:ieee8021ad:ethertype:vlan:ethertype:ip:tcp:http",
     {"type": "qinq", "vlan_ids": [STAG, CTAG], "outer_tpid": "0x88a8"}),
    ("ipip-4in4", "IPv4 (proto 4) carrying the original IPv4 packet", None,
     "eth:ethertype:ip:ip:tcp:http",
     {"type": "ipip", "outer_family": "ipv4", "inner_family": "ipv4",
      "outer_src": V4_A, "outer_dst": V4_B}),
    ("ipip-6in4", "IPv4 (proto 41) carrying the packets translated to IPv6",
     None, "eth:ethertype:ip:ipv6:tcp:http",
     {"type": "ipip", "outer_family": "ipv4", "inner_family": "ipv6",
      "outer_src": V4_A, "outer_dst": V4_B, "inner_translated": True}),
    ("ipip-4in6", "IPv6 (next header 4) carrying the original IPv4 packet",
     None, "eth:ethertype:ipv6:ip:tcp:http",
     {"type": "ipip", "outer_family": "ipv6", "inner_family": "ipv4",
      "outer_src": V6_A, "outer_dst": V6_B}),
    ("ipip-6in6", "IPv6 (next header 41) carrying the packets translated to "
     "IPv6", None, "eth:ethertype:ipv6:ipv6:tcp:http",
     {"type": "ipip", "outer_family": "ipv6", "inner_family": "ipv6",
      "outer_src": V6_A, "outer_dst": V6_B, "inner_translated": True}),
    ("gre", "GRE with key and sequence number, protocol 0x0800 (IPv4)", None,
     "eth:ethertype:ip:gre:ip:tcp:http",
     {"type": "gre", "outer_src": V4_A, "outer_dst": V4_B, "key": GRE_KEY,
      "sequence_numbers": True, "gre_protocol": "0x0800"}),
    ("gre-teb", "GRE transparent Ethernet bridging (0x6558) carrying the "
     "whole Ethernet frame", None, "eth:ethertype:ip:gre:eth:ethertype:ip:tcp:http",
     {"type": "gre-teb", "outer_src": V4_A, "outer_dst": V4_B, "key": None,
      "gre_protocol": "0x6558"}),
    ("erspan2", "GRE (seq present) protocol 0x88be + ERSPAN type II header, "
     "session 77, carrying the whole Ethernet frame", None,
     "eth:ethertype:ip:gre:erspan:eth:ethertype:ip:tcp:http",
     {"type": "erspan2", "outer_src": V4_A, "outer_dst": V4_B,
      "session_id": ERSPAN_SESSION, "gre_protocol": "0x88be"}),
    ("geneve", "UDP 6081 GENEVE VNI 777 carrying Ethernet", None,
     "eth:ethertype:ip:udp:geneve:eth:ethertype:ip:tcp:http",
     {"type": "geneve", "outer_src": V4_A, "outer_dst": V4_B,
      "vni": GENEVE_VNI, "udp_port": 6081}),
    ("vxlan-in-qinq", "outer 802.1ad S-tag 200 + 802.1Q C-tag 100, then "
     "IPv4/UDP 4789/VXLAN VNI 4242 carrying the Ethernet frame", None,
     "eth:ethertype:ieee8021ad:ethertype:vlan:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp:http",
     {"type": "vxlan", "outer_src": V4_A, "outer_dst": V4_B,
      "vni": VXLAN_VNI, "udp_port": 4789, "vlan_ids": [STAG, CTAG],
      "outer_tpid": "0x88a8"}),
    ("vxlan-8472", "IPv4/UDP 8472 (Linux default VXLAN port)/VXLAN VNI 4242 "
     "carrying the Ethernet frame", "udp.port==8472,vxlan",
     "eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp:http",
     {"type": "vxlan", "outer_src": V4_A, "outer_dst": V4_B,
      "vni": VXLAN_VNI, "udp_port": 8472}),
]


# --------------------------------------------------------------------------
# edge cases

def conn_frames(frames, parts, client_port):
    return [i for i, p in enumerate(parts)
            if p.get("proto") == 6 and client_port in (p["sport"], p["dport"])]


def data_segments(idx, parts, from_client):
    return [i for i in idx if len(parts[i]["payload"]) > 0 and
            (parts[i]["dport"] in (80, 8080)) == from_client]


def find_request(idx, parts, start_line_prefix):
    for i in idx:
        if parts[i]["payload"].startswith(start_line_prefix):
            return i
    raise SystemExit("edge: no frame starting with %r" % start_line_prefix)


def calls_of(expected, port):
    return [c for c in expected["calls"] if c["client_port"] == port]


def summary(c):
    """The full call record, same schema as http/http.expected.json."""
    return dict(c)


def edge_files(frames, parts, expected):
    calls = expected["calls"]
    conns = {}
    for c in calls:
        conns.setdefault(c["connection"], c["client_port"])
    out = {}

    def copy(i, **kw):
        fr = dict(frames[i])
        fr.update(kw)
        return fr

    # ---- truncated-frames.pcap ------------------------------------------
    c0 = conn_frames(frames, parts, conns[0])
    c4 = conn_frames(frames, parts, conns[4])
    post = find_request(c4, parts, b"POST ")
    chunked = find_request(c4, parts, b"GET /chunked/")
    fl = []
    notes = []
    for k, cut in zip(c0[:3], (10, 24, 40)):
        fl.append(copy(k, data=frames[k]["data"][:cut], len=len(frames[k]["data"])))
    notes += ["frame 1: SYN of another connection cut to 10 bytes (inside the "
              "Ethernet header), caplen 10 < len",
              "frame 2: SYN/ACK cut to 24 bytes (inside the IPv4 header)",
              "frame 3: ACK cut to 40 bytes (inside the TCP header)"]
    for i in c4:
        n = len(fl) + 1
        if i == post:
            fl.append(copy(i, data=frames[i]["data"][:120], len=len(frames[i]["data"])))
            notes.append("frame %d: the POST /api/items request segment (%d "
                         "bytes) cut to caplen 120: the request head is "
                         "incomplete" % (n, len(frames[i]["data"])))
        elif i == chunked:
            d = bytearray(frames[i]["data"])
            total = struct.unpack("!H", d[16:18])[0]
            d[16:18] = struct.pack("!H", total + 200)
            ihl = (d[14] & 0x0F) * 4
            d[14:14 + ihl] = ipv4_fix_checksum(bytes(d[14:14 + ihl]))
            fl.append(copy(i, data=bytes(d)))
            notes.append("frame %d: the GET /chunked/page.html request: IPv4 "
                         "total length %d claims 200 bytes more than the "
                         "frame holds (header checksum valid, caplen == len)"
                         % (n, total + 200))
        else:
            fl.append(copy(i))
    c4calls = calls_of(expected, conns[4])
    write_pcap(os.path.join(EDGE_DIR, "truncated-frames.pcap"), fl)
    out["truncated-frames.pcap"] = {
        "source": "connection 4 of http/client-veth.pcap (port 8080) plus "
                  "three cut frames of connection 0",
        "frames": len(fl),
        "contents": notes,
        "expect": {
            "must_not_panic": True,
            "malformed_or_truncated_frames": 5,
            "complete_exchanges": 1,
            "complete": [summary(c4calls[0])],
            "broken": [
                dict(summary(c4calls[1]), why="request segment truncated by "
                     "caplen: request head not fully captured; its 201 "
                     "response is present"),
                dict(summary(c4calls[2]), why="request frame has an IPv4 "
                     "total length beyond the data; a strict parser drops it "
                     "(as the kernel would), leaving the chunked 200 "
                     "response without its request. A lenient parser that "
                     "uses the bytes present may report this exchange as "
                     "complete (then complete_exchanges is 2)"),
            ],
        },
    }

    # ---- ipv4-fragments.pcap ---------------------------------------------
    first_req = find_request(c0, parts, b"GET ")
    fl = []
    for i in c0:
        if i != first_req:
            fl.append(copy(i))
            continue
        p = parts[i]
        ip_payload = p["l4"]
        pieces = [ip_payload[0:80], ip_payload[80:160], ip_payload[160:]]
        offs = [0, 80, 160]
        frags = []
        for k, (piece, off) in enumerate(zip(pieces, offs)):
            hdr = bytearray(p["ip_hdr"])
            hdr[2:4] = struct.pack("!H", len(hdr) + len(piece))
            mf = 0x2000 if k < 2 else 0
            hdr[6:8] = struct.pack("!H", mf | (off // 8))   # DF cleared
            frags.append(p["eth"] + ipv4_fix_checksum(bytes(hdr)) + piece)
        for k in (2, 0, 1):       # delivered out of order: last, first, middle
            fl.append(copy(i, data=frags[k], len=len(frags[k])))
    c0calls = calls_of(expected, conns[0])
    write_pcap(os.path.join(EDGE_DIR, "ipv4-fragments.pcap"), fl)
    out["ipv4-fragments.pcap"] = {
        "source": "connection 0 of http/client-veth.pcap",
        "frames": len(fl),
        "contents": [
            "the first request (GET /ok?x=1&y=two, IPv4 payload %d bytes) is "
            "split into 3 IPv4 fragments (offsets 0, 80, 160; same IP id "
            "0x%04x; DF cleared), written in the order: last (offset 160, "
            "MF=0), first (offset 0, MF=1), middle (offset 80, MF=1), all "
            "with the original frame's timestamp" % (len(parts[first_req]["l4"]),
                                                    parts[first_req]["id"]),
            "every other frame of the connection is unchanged"],
        "expect": {
            "complete_exchanges": len(c0calls),
            "complete": [summary(c) for c in c0calls],
            "note": "the first exchange (with its traceparent) is only "
                    "visible after IPv4 reassembly",
        },
    }

    # ---- tcp-hole.pcap ---------------------------------------------------
    c1 = conn_frames(frames, parts, conns[1])
    large = find_request(c1, parts, b"POST /api/items?kind=large")
    segs = [i for i in data_segments(c1, parts, True) if i >= large]
    # the request is head+body in 3 segments: remove the middle one
    hole = segs[1]
    fl = [copy(i) for i in c1 if i != hole]
    c1calls = calls_of(expected, conns[1])
    write_pcap(os.path.join(EDGE_DIR, "tcp-hole.pcap"), fl)
    broken = [c for c in c1calls if c["query"] == "kind=large"]
    out["tcp-hole.pcap"] = {
        "source": "connection 1 of http/client-veth.pcap",
        "frames": len(fl),
        "contents": [
            "the middle data segment (%d bytes, tshark's relative client seq "
            "%d) of "
            "POST /api/items?kind=large (head + 4000-byte body in 3 "
            "segments) is removed, as if the capture had dropped it; the "
            "server's ACKs still cover it" % (
                len(parts[hole]["payload"]),
                parts[hole]["seq"] - parts[c1[0]]["seq"])],
        "expect": {
            "complete_exchanges": len(c1calls) - 1,
            "complete": [summary(c) for c in c1calls if c not in broken],
            "broken": [dict(summary(c), why="1448 bytes of the request body "
                            "missing; the 201 response is present. Later "
                            "exchanges on the connection must still be "
                            "parsed and matched correctly (the parser must "
                            "resynchronise at the next request after the "
                            "gap, using the Content-Length and the TCP "
                            "sequence numbers)") for c in broken],
        },
    }

    # ---- out-of-order.pcap -------------------------------------------------
    c3 = conn_frames(frames, parts, conns[3])
    resp = data_segments(c3, parts, False)
    a, b = resp[10], resp[11]
    dup_src, dup_after = resp[20], resp[25]
    fl = []
    for i in c3:
        if i == a:
            fl.append(copy(b, sec=frames[a]["sec"], usec=frames[a]["usec"]))
        elif i == b:
            fl.append(copy(a, sec=frames[b]["sec"], usec=frames[b]["usec"]))
        else:
            fl.append(copy(i))
        if i == dup_after:
            d = bytearray(frames[dup_src]["data"])
            ipid = (struct.unpack("!H", d[18:20])[0] + 0x1000) & 0xFFFF
            d[18:20] = struct.pack("!H", ipid)
            ihl = (d[14] & 0x0F) * 4
            d[14:14 + ihl] = ipv4_fix_checksum(bytes(d[14:14 + ihl]))
            usec = frames[i]["usec"] + 1
            fl.append({"sec": frames[i]["sec"] + usec // 1000000,
                       "usec": usec % 1000000, "data": bytes(d)})
    c3calls = calls_of(expected, conns[3])
    write_pcap(os.path.join(EDGE_DIR, "out-of-order.pcap"), fl)
    synack = [i for i in c3 if parts[i]["tcp_flags"] & 0x12 == 0x12][0]
    base = parts[synack]["seq"]     # relative seq as tshark shows it
    out["out-of-order.pcap"] = {
        "source": "connection 3 of http/client-veth.pcap",
        "frames": len(fl),
        "contents": [
            "the 11th and 12th data segments of the GET /static/big.bin "
            "response are swapped (tshark relative server seq %d and %d; each "
            "keeps the timestamp of the position it now occupies)" % (
                parts[a]["seq"] - base, parts[b]["seq"] - base),
            "a retransmitted duplicate of the 21st response segment "
            "(tshark relative server seq %d, new IP id) appears right after the "
            "26th" % (parts[dup_src]["seq"] - base)],
        "expect": {
            "complete_exchanges": len(c3calls),
            "complete": [summary(c) for c in c3calls],
            "note": "the body must be reassembled in sequence order, the "
                    "duplicate counted once: response_body_size of the big "
                    "body is exactly %d" % c3calls[0]["response_body_size"],
        },
    }
    return out


def main():
    for d in (TUN_DIR, EDGE_DIR):
        os.makedirs(d, exist_ok=True)
    frames = read_pcap(SRC_PCAP)
    with open(SRC_EXPECTED) as f:
        expected = json.load(f)
    client_ip = expected["calls"][0]["client_address"]
    server_ip = expected["calls"][0]["server_address"]
    ncalls = len(expected["calls"])
    # only IPv4 frames are re-encapsulated (the source holds nothing else)
    ipv4 = [fr for fr in frames
            if struct.unpack("!H", fr["data"][12:14])[0] == 0x0800]
    t = Tunnels(ipv4, client_ip)

    meta = {
        "source": "http/client-veth.pcap",
        "expected_calls": "http/http.expected.json",
        "http_requests_per_file": ncalls,
        "endpoint_a": {"mac": MAC_A, "ipv4": V4_A, "ipv6": V6_A,
                       "role": "client side: outer source of client->server frames"},
        "endpoint_b": {"mac": MAC_B, "ipv4": V4_B, "ipv6": V6_B,
                       "role": "server side"},
        "inner_ipv4": {"client": client_ip, "server": server_ip},
        "inner_ipv6_translation": {client_ip: INNER6_CLIENT,
                                   server_ip: INNER6_SERVER},
        "outer_udp_source_port": "49152 + (inner sport XOR inner dport) % 16384",
        "files": {},
    }
    for name, desc, decode_as, chain, info in TUNNELS:
        fn = name + ".pcap"
        fl = t.build(name)
        write_pcap(os.path.join(TUN_DIR, fn), fl)
        entry = dict(info)
        entry.update({"description": desc, "frames": len(fl),
                      "http_requests": ncalls,
                      "tshark_decode_as": decode_as,
                      "request_frame_protocols": chain})
        if entry.get("inner_translated"):
            entry["inner_src_dst"] = {"client": INNER6_CLIENT,
                                      "server": INNER6_SERVER}
        else:
            entry["inner_src_dst"] = {"client": client_ip, "server": server_ip}
        meta["files"][fn] = entry
        print("tunnels/%-20s %4d frames" % (fn, len(fl)))
    with open(os.path.join(TUN_DIR, "tunnels.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")

    parts = [split_frame(fr["data"]) for fr in ipv4]
    edge = edge_files(ipv4, parts, expected)
    doc = {"source": "http/client-veth.pcap",
           "expected_calls": "http/http.expected.json",
           "files": edge}
    with open(os.path.join(EDGE_DIR, "edge.json"), "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    for fn, e in sorted(edge.items()):
        print("edge/%-24s %4d frames, %d complete exchanges expected"
              % (fn, e["frames"], e["expect"]["complete_exchanges"]))


if __name__ == "__main__":
    main()
