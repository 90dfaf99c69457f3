"""Cross-check pcaps/tls-grpc with tshark: tls-grpc.pcap decrypted with tls-grpc.keys against
tls-grpc.expected.json (what the Node client logged, with the server's view merged in). Exits 1
on any mismatch (keys that decrypt nothing make most checks fail), else prints a summary.

    python3 pcaps/tls-grpc/check.py [DIR]

Per connection (matched by client port): the ClientHello's SNI and ALPN offer, the ServerHello's
version (supported_versions, else the legacy version) and cipher suite, the server's ALPN
(ServerHello in TLS 1.2, EncryptedExtensions in TLS 1.3: decrypted). Per call (HTTP/2 streams
matched to the client's calls in the order of their HEADERS on the connection, stream ids
1, 3, 5, ...): the :path, the gRPC messages each way (count and bytes without the 5-byte
prefixes, read from the DATA frames), :status 200, grpc-status and grpc-message (percent-decoded),
a traceparent where the client sent one, and the times: the stream's first frame after the
client began the call, its last before the client had its status. Read without the keys, the
capture must show no HTTP/2 at all.

Needs tshark (Wireshark 4.0 tested: -T json --no-duplicate-keys) and python3 (standard library).
"""

import collections
import json
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tls"))
from tsharkjson import VERSION, check, dicts_with, failures, values  # noqa: E402

HERE = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
CIPHER = {
    "TLS_AES_128_GCM_SHA256": 0x1301, "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": 0xC02B,
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": 0xC02C,
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA9,
}


def tshark(pcap, port, keys=None):
    argv = ["tshark", "-n", "-r", pcap, "-d", f"tcp.port=={port},tls", "-T", "json",
            "--no-duplicate-keys", "-J", "frame tcp tls http2"]
    if keys:
        argv += ["-o", f"tls.keylog_file:{keys}"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def headers(frame):
    """A HEADERS frame's fields, {name: value} (the last of a repeated name)."""
    return {h["http2.header.name"]: h.get("http2.header.value", "")
            for h in dicts_with(frame, "http2.header.name")}


def grpc_messages(data):
    """(messages, bytes without prefixes) of one direction's DATA bytes; None if they do not
    split into whole length-prefixed messages."""
    n = size = 0
    i = 0
    while i < len(data):
        if i + 5 > len(data):
            return None
        length = int.from_bytes(data[i + 1:i + 5], "big")
        n += 1
        size += length
        i += 5 + length
    return (n, size) if i == len(data) else None


def read(pcap, port, keys):
    """What tshark decrypted, per client port: the handshake's facts and the HTTP/2 streams."""
    conns = collections.defaultdict(lambda: {
        "sni": None, "alpn_offered": None, "version": None, "cipher": None, "alpn": None,
        "streams": {}})
    for pkt in tshark(pcap, port, keys):
        layers = pkt["_source"]["layers"]
        tcp = layers["tcp"]
        sport, dport = int(tcp["tcp.srcport"]), int(tcp["tcp.dstport"])
        from_client = dport == port
        c = conns[sport if from_client else dport]
        sec, _, frac = layers["frame"]["frame.time_epoch"].partition(".")
        t_ns = int(sec) * 10**9 + int((frac + "000000000")[:9])
        tls = layers.get("tls", {})
        for hs in dicts_with(tls, "tls.handshake.type"):
            htype = int(hs["tls.handshake.type"])
            if htype == 1:
                c["sni"] = (values(hs, "tls.handshake.extensions_server_name") or [None])[0]
                c["alpn_offered"] = values(hs, "tls.handshake.extensions_alpn_str")
            elif htype == 2:
                sv = values(hs, "tls.handshake.extensions.supported_version")
                c["version"] = VERSION.get(int((sv or [hs["tls.handshake.version"]])[0], 0))
                c["cipher"] = int(hs["tls.handshake.ciphersuite"], 0)
                alpn = values(hs, "tls.handshake.extensions_alpn_str")
                if alpn:
                    c["alpn"] = alpn[0]
            elif htype == 8:  # EncryptedExtensions (TLS 1.3), decrypted
                alpn = values(hs, "tls.handshake.extensions_alpn_str")
                if alpn:
                    c["alpn"] = alpn[0]
        for f in dicts_with(layers.get("http2", {}), "http2.streamid"):
            sid = int(f["http2.streamid"])
            if sid == 0:
                continue
            s = c["streams"].setdefault(sid, {
                "req_headers": None, "resp_headers": [], "req": b"", "resp": b"",
                "first_ns": t_ns, "last_ns": t_ns})
            s["last_ns"] = t_ns
            ftype = int(f["http2.type"])
            if ftype == 1:
                if from_client:
                    s["req_headers"] = headers(f)
                else:
                    s["resp_headers"].append(headers(f))
            elif ftype == 0:
                data = bytes.fromhex(f.get("http2.data.data", "").replace(":", ""))
                s["req" if from_client else "resp"] += data
                # an empty DATA frame carries no http2.data.data; its length says so
                check(f"port {sport} stream {sid} DATA length", len(data),
                      int(f["http2.length"]) - int(f.get("http2.pad_length", 0) or 0))
    return conns


def main():
    pcap = os.path.join(HERE, "tls-grpc.pcap")
    keys = os.path.join(HERE, "tls-grpc.keys")
    with open(os.path.join(HERE, "tls-grpc.expected.json")) as f:
        exp = json.load(f)
    port = int(exp["target"].rsplit(":", 1)[1])
    seen = read(pcap, port, keys)
    check("connections (client ports)", sorted(seen),
          sorted(c["client_port"] for c in exp["connections"]))
    calls_by_conn = collections.defaultdict(list)
    for call in exp["calls"]:
        calls_by_conn[call["connection"]].append(call)
    ncalls = 0
    for conn in exp["connections"]:
        cid, cport = conn["id"], conn["client_port"]
        got = seen.get(cport)
        if got is None:
            failures.append(f"{cid}: no connection from port {cport}")
            continue
        check(f"{cid} SNI", got["sni"], conn["sni"])
        check(f"{cid} ALPN offered", got["alpn_offered"], conn["alpn_offered"])
        check(f"{cid} version", got["version"], conn["tls_version"])
        check(f"{cid} cipher", got["cipher"], CIPHER.get(conn["cipher"], conn["cipher"]))
        check(f"{cid} ALPN", got["alpn"], conn["alpn"])
        # grpc-js opens streams 1, 3, 5, ... in the order it starts the calls.
        streams = sorted(got["streams"].items())
        calls = calls_by_conn[cid]
        check(f"{cid} streams", [sid for sid, _ in streams],
              [2 * i + 1 for i in range(len(calls))])
        for (sid, s), call in zip(streams, calls):
            what = f"{cid} stream {sid} (call {call['id']} {call['path']})"
            req = s["req_headers"] or {}
            check(f"{what} :path", req.get(":path"), call["path"])
            check(f"{what} :method", req.get(":method"), "POST")
            check(f"{what} :authority", req.get(":authority"), conn["sni"])
            check(f"{what} content-type", req.get("content-type"), "application/grpc")
            check(f"{what} traceparent", req.get("traceparent"), call["traceparent"])
            check(f"{what} request messages", grpc_messages(s["req"]),
                  (call["request_messages"], call["request_bytes"]))
            check(f"{what} response messages", grpc_messages(s["resp"]),
                  (call["response_messages"], call["response_bytes"]))
            resp = {}
            for h in s["resp_headers"]:
                resp.update(h)
            check(f"{what} :status", resp.get(":status"), "200")
            check(f"{what} grpc-status", resp.get("grpc-status"), str(call["grpc_status"]))
            message = urllib.parse.unquote(resp.get("grpc-message", "")) or None
            check(f"{what} grpc-message", message, call["grpc_message"])
            if not call["start_ns"] <= s["first_ns"] <= s["last_ns"] <= call["end_ns"]:
                failures.append(f"{what}: on the wire {s['first_ns']}..{s['last_ns']}, "
                                f"outside the client's {call['start_ns']}..{call['end_ns']}")
            ncalls += 1
    # Without the keys: handshakes only, no HTTP/2.
    blind = read(pcap, port, None)
    for cport, c in blind.items():
        check(f"port {cport} without keys: HTTP/2 streams", len(c["streams"]), 0)
    if failures:
        print("check.py: tshark disagrees with tls-grpc.expected.json:", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        sys.exit(1)
    for conn in exp["connections"]:
        print(f"check.py: {conn['id']} port {conn['client_port']}: TLS {conn['tls_version']} "
              f"{conn['cipher']} ALPN {conn['alpn']}, {len(calls_by_conn[conn['id']])} calls")
    print(f"check.py: tshark agrees: {len(exp['connections'])} connections, {ncalls} gRPC calls "
          "decrypted with the key log; none without it")


if __name__ == "__main__":
    main()
