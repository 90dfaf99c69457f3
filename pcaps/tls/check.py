"""Cross-check pcaps/tls/ with tshark: tls.pcap read with tls.keys, and tls-dsb.pcapng read with
the keys inside it, against tls.expected.json. Exits 1 on any mismatch (keys that decrypt
nothing make most checks fail), else prints a summary.

    python3 pcaps/tls/check.py [DIR]

Connection by connection (matched by client port): the TCP connection exists; the ClientHello's
SNI; for an established one the ServerHello's version (supported_versions, else the legacy
version) and cipher suite, the ALPN the server chose (ServerHello in TLS 1.2, EncryptedExtensions
in TLS 1.3: decrypted), a HelloRetryRequest (two ServerHellos) where the client could tell, and
resumption (no Certificate from the server; in TLS 1.3 only visible decrypted); for a failed one
the alert, from the side the client says (and, read without keys, in the clear or not as the
client says); then the decrypted HTTP/1.1 requests (method, path,
status), HTTP/2 streams (method, path, status; stream ids for Python's) and MySQL queries (SQL,
error codes), in order. Read without keys, tls.pcap must show none of these.

Needs tshark (Wireshark 4.0 tested: -T json --no-duplicate-keys) and python3 (standard library).
"""

import collections
import json
import os
import subprocess
import sys

from tsharkjson import VERSION, check, dicts_with, failures, values

HERE = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
CIPHER = {
    "TLS_AES_128_GCM_SHA256": 0x1301, "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": 0xC02B,
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": 0xC02C,
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": 0xC02F,
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": 0xC030,
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA8,
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA9,
    "TLS_RSA_WITH_AES_128_GCM_SHA256": 0x009C, "TLS_RSA_WITH_AES_256_GCM_SHA384": 0x009D,
}
ALERT = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
         40: "handshake_failure", 42: "bad_certificate", 45: "certificate_expired",
         46: "certificate_unknown", 48: "unknown_ca", 50: "decode_error", 51: "decrypt_error",
         70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
         86: "inappropriate_fallback", 90: "user_canceled", 112: "unrecognized_name",
         120: "no_application_protocol"}


def num(s):
    return int(s, 0)


def read(pcap, keys=None):
    """Per TCP stream what tshark saw: {client_port: facts}."""
    argv = ["tshark", "-r", pcap, "-T", "json", "--no-duplicate-keys"]
    if keys:
        argv += ["-o", f"tls.keylog_file:{keys}"]
    packets = json.loads(subprocess.run(argv, check=True, capture_output=True).stdout)
    streams = collections.defaultdict(lambda: {
        "client_port": None, "server_port": None, "syn": 0, "client_hellos": [],
        "server_hellos": [], "alpn": [], "server_certificates": 0, "alerts": [],
        "http1": [], "http1_status": [], "h2_requests": {}, "h2_status": {}, "mysql": [],
        "mysql_errors": []})
    for p in packets:
        layers = p["_source"]["layers"]
        tcp = layers["tcp"]
        s = streams[int(tcp["tcp.stream"])]
        src, dst = int(tcp["tcp.srcport"]), int(tcp["tcp.dstport"])
        flags = num(tcp["tcp.flags"])
        if flags & 0x02 and not flags & 0x10:
            s["syn"] += 1
            s["client_port"], s["server_port"] = src, dst
        from_server = src == s["server_port"]
        for hs in dicts_with(layers.get("tls", {}), "tls.handshake.type"):
            types = hs["tls.handshake.type"]
            t = num(types if isinstance(types, str) else types[0])
            if t == 1:
                sni = values(hs, "tls.handshake.extensions_server_name")
                s["client_hellos"].append(sni[0] if sni else None)
            elif t == 2:
                sv = values(hs, "tls.handshake.extensions.supported_version")
                v = num(sv[0]) if sv else num(hs["tls.handshake.version"])
                s["server_hellos"].append((VERSION.get(v, hex(v)),
                                           num(hs["tls.handshake.ciphersuite"])))
                s["alpn"] += values(hs, "tls.handshake.extensions_alpn_str")
            elif t == 8:
                s["alpn"] += values(hs, "tls.handshake.extensions_alpn_str")
            elif t == 11 and from_server:
                s["server_certificates"] += 1
        for a in values(layers.get("tls", {}), "tls.alert_message.desc"):
            s["alerts"].append(("server" if from_server else "client", ALERT.get(num(a), a)))
        for r in dicts_with(layers.get("http", {}), "http.request.method"):
            s["http1"].append((r["http.request.method"], r["http.request.uri"]))
        for r in dicts_with(layers.get("http", {}), "http.response.code"):
            s["http1_status"].append(int(r["http.response.code"]))
        for fr in dicts_with(layers.get("http2", {}), "http2.type"):
            if num(fr["http2.type"]) != 1:
                continue
            sid = int(fr["http2.streamid"])
            hdrs = {h["http2.header.name"]: h.get("http2.header.value")
                    for h in dicts_with(fr, "http2.header.name")}
            if ":method" in hdrs:
                s["h2_requests"][sid] = (hdrs[":method"], hdrs.get(":path"))
            if ":status" in hdrs:
                s["h2_status"][sid] = int(hdrs[":status"])
        for q in values(layers.get("mysql", {}), "mysql.query"):
            s["mysql"].append(q)
        for e in values(layers.get("mysql", {}), "mysql.error_code"):
            s["mysql_errors"].append(int(e))
    return {s["client_port"]: s for s in streams.values() if s["client_port"]}, len(packets)


def compare(name, seen, expected):
    for c in expected["connections"]:
        cid = f"{name} {c['id']} (port {c['client_port']})"
        s = seen.get(c["client_port"])
        if s is None:
            failures.append(f"{cid}: no TCP connection in the capture")
            continue
        check(f"{cid} server port", s["server_port"], c["server_port"])
        check(f"{cid} SNI", s["client_hellos"][0] if s["client_hellos"] else "no ClientHello",
              c["sni"])
        if c["outcome"] == "established":
            if not s["server_hellos"]:
                failures.append(f"{cid}: no ServerHello")
                continue
            version, suite = s["server_hellos"][-1]
            check(f"{cid} version", version, c["tls_version"])
            check(f"{cid} cipher", suite, CIPHER[c["cipher"]])
            check(f"{cid} ALPN", s["alpn"][-1] if s["alpn"] else None, c["alpn"])
            if c["hello_retry_request"] is not None:
                check(f"{cid} HelloRetryRequest", len(s["server_hellos"]) > 1,
                      c["hello_retry_request"])
            check(f"{cid} resumed (no server Certificate)", s["server_certificates"] == 0,
                  c["session_reused"])
        else:
            a = c["alert"]
            fatal = [x for x in s["alerts"] if x[1] != "close_notify"]
            check(f"{cid} alert", fatal, [(a["sent_by"], a["description"])])
        reqs = c.get("requests") or []
        h1 = [r for r in reqs if r["http_version"] == "1.1"]
        check(f"{cid} HTTP/1.1 requests", s["http1"], [(r["method"], r["path"]) for r in h1])
        check(f"{cid} HTTP/1.1 statuses", s["http1_status"], [r["status"] for r in h1])
        h2 = [r for r in reqs if r["http_version"] == "2"]
        got = sorted((m, p, s["h2_status"].get(sid)) for sid, (m, p) in s["h2_requests"].items())
        check(f"{cid} HTTP/2 streams", got, sorted((r["method"], r["path"], r["status"]) for r in h2))
        for r in h2:
            if "stream_id" in r:
                check(f"{cid} HTTP/2 stream {r['stream_id']}", s["h2_requests"].get(r["stream_id"]),
                      (r["method"], r["path"]))
        qs = c.get("queries") or []
        check(f"{cid} MySQL queries", s["mysql"], [q["statement"] for q in qs])
        check(f"{cid} MySQL errors", s["mysql_errors"],
              [q["error_code"] for q in qs if q["error_code"] is not None])
    extra = set(seen) - {c["client_port"] for c in expected["connections"]}
    check(f"{name} connections nobody logged", sorted(extra), [])


def summary(seen, packets):
    versions = collections.Counter(s["server_hellos"][-1][0] for s in seen.values()
                                   if s["server_hellos"] and not [a for a in s["alerts"]
                                                                  if a[1] != "close_notify"])
    return {
        "packets": packets,
        "connections": sum(s["syn"] > 0 for s in seen.values()),
        "handshakes_tls12": versions.get("1.2", 0),
        "handshakes_tls13": versions.get("1.3", 0),
        "hello_retry_requests": sum(len(s["server_hellos"]) > 1 for s in seen.values()),
        "resumed": sum(bool(s["server_hellos"]) and s["server_certificates"] == 0
                       and all(a[1] == "close_notify" for a in s["alerts"])
                       for s in seen.values()),
        "failed_with_alert": sum(any(a[1] != "close_notify" for a in s["alerts"])
                                 for s in seen.values()),
        "http1_requests": sum(len(s["http1"]) for s in seen.values()),
        "http2_streams": sum(len(s["h2_requests"]) for s in seen.values()),
        "mysql_queries": sum(len(s["mysql"]) for s in seen.values()),
    }


def main():
    with open(os.path.join(HERE, "tls.expected.json")) as f:
        expected = json.load(f)
    seen, n = read(os.path.join(HERE, "tls.pcap"), os.path.join(HERE, "tls.keys"))
    compare("tls.pcap+tls.keys", seen, expected)
    totals = summary(seen, n)
    # without keys: nothing inside TLS, and only the alerts sent in the clear
    bare, _ = read(os.path.join(HERE, "tls.pcap"))
    bare_totals = summary(bare, n)
    for k in ("http1_requests", "http2_streams", "mysql_queries"):
        check(f"tls.pcap without keys: {k}", bare_totals[k], 0)
    for c in expected["connections"]:
        if c["alert"]:
            a = c["alert"]
            fatal = [x for x in bare[c["client_port"]]["alerts"] if x[1] != "close_notify"]
            check(f"tls.pcap without keys: {c['id']} alert in the clear", fatal,
                  [] if a["encrypted"] else [(a["sent_by"], a["description"])])
    seen_dsb, n_dsb = read(os.path.join(HERE, "tls-dsb.pcapng"))
    compare("tls-dsb.pcapng", seen_dsb, expected)
    check("tls-dsb.pcapng summary", summary(seen_dsb, n_dsb), totals)
    conns = expected["connections"]
    want = {
        "connections": len(conns),
        "http1_requests": sum(r["http_version"] == "1.1" for c in conns
                              for r in c.get("requests") or []),
        "http2_streams": sum(r["http_version"] == "2" for c in conns
                             for r in c.get("requests") or []),
        "mysql_queries": sum(len(c.get("queries") or []) for c in conns),
    }
    for k, v in want.items():
        check(f"total {k}", totals[k], v)
    if not totals["http1_requests"] or not totals["http2_streams"] or not totals["mysql_queries"]:
        failures.append("nothing decrypted: do tls.keys belong to tls.pcap?")
    size = os.path.getsize(os.path.join(HERE, "tls.pcap"))
    if size >= 300_000:
        failures.append(f"tls.pcap is {size} bytes (>= 300 KB)")
    if failures:
        for f in failures:
            print(f"check.py: CHECK FAILED {f}", file=sys.stderr)
        print(f"check.py: {len(failures)} checks failed", file=sys.stderr)
        sys.exit(1)
    print("check.py: tshark agrees with tls.expected.json, for tls.pcap with tls.keys and for "
          "tls-dsb.pcapng:")
    print("  " + ", ".join(f"{k} {v}" for k, v in totals.items()))


main()
