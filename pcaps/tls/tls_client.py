"""The clients of pcaps/tls/gen-tls.sh: real TLS connections to nginx and MariaDB, every one
writing its secrets to one NSS key log (SSLKEYLOGFILE format), each logged with what the client
library itself reports, to a JSON file.

    python3 tls_client.py SERVER PKI KEYLOG OUT WORK DB_USER DB_PASSWORD

SERVER is the server's address (nginx on 8443-8446, mariadbd on 3306), PKI the directory of
the throwaway CA and server certificates (ca.pem, web.pem, rsa.pem), KEYLOG the key log all
clients append to (curl through SSLKEYLOGFILE, Python through SSLContext.keylog_filename),
OUT the expected JSON (written at the end), WORK a scratch directory (curl's traces).
The names web/api/rsa/db.wirespan.test are not resolved: curl gets --resolve, Python connects
to SERVER and sends the name as SNI.

Needs python3 (3.8+: SSLContext.keylog_filename) with h2 and PyMySQL (pip install h2 PyMySQL;
tested with h2 4.4.1, PyMySQL 2.2.8, Python 3.11 on OpenSSL 3.0), and curl built with OpenSSL
(Debian 12's 7.88.1: SSLKEYLOGFILE, --trace-time, -w '%{json}').

Connections, in this order (ids in the JSON):
  curl (one process per case; every transfer's -w '%{json}' and its --trace-ascii --trace-time
  trace are read: version and cipher from "SSL connection using", ALPN from "ALPN: server
  accepted", the certificate from "Server certificate:", resumption from "SSL re-using session
  ID" with no Certificate message from the server, times from the trace's time stamps)
    curl-h1-tls13        8443  HTTP/1.1, two URLs on one connection
    curl-h2-tls13        8443  HTTP/2, two URLs on one connection (one of 20 KB)
    curl-h1-tls12        8444  --tls-max 1.2
    curl-h2-tls12-chacha 8444  --tls-max 1.2 --ciphers ECDHE-ECDSA-CHACHA20-POLY1305, HTTP/2, GET + POST
    curl-h1-tls13-chacha 8445  --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256
    curl-h2-tls13-aes256 8443  --tls13-ciphers TLS_AES_256_GCM_SHA384, HTTP/2, GET + POST
    curl-rsa-tls12-chacha 8446 RSA certificate, --ciphers ECDHE-RSA-CHACHA20-POLY1305
    curl-rsa-tls12-kx-rsa 8446 RSA key exchange (AES128-GCM-SHA256: no ECDHE)
    curl-rsa-tls13-hrr   8446  TLS 1.3; the server has no X25519, so a HelloRetryRequest; a 404
    curl-h1-no-sni       8443  https://SERVER:8443/: no SNI (the certificate has the IP);
                               --tls13-ciphers TLS_AES_128_GCM_SHA256
    curl-resume-tls13-a/b 8445 Connection: close, then a second connection resuming the first
    curl-resume-tls12-a/b 8444 the same in TLS 1.2 (session ticket)
  Python (ssl, http.client, h2)
    py-h1-keepalive      8443  HTTP/1.1 keep-alive: GET x3, POST, GET 404
    py-h2-tls13          8443  HTTP/2 (h2), five streams at once (GET x4 one 404, POST)
    py-h2-tls12          8444  HTTP/2 over TLS 1.2 (ECDHE-ECDSA-AES128-GCM-SHA256), three streams
    py-resume-tls13-a/b  8445  TLS 1.3 resumption (SSLSocket.session, a session ticket)
    py-resume-tls12-a/b  8444  TLS 1.2 resumption with a session ticket
    py-resume-tls12-sid-a/b 8446 TLS 1.2 resumption by session id (tickets off there)
    py-fail-version      8445  a TLS 1.2-only client: the server's protocol_version alert
    py-fail-cipher       8444  only ECDHE-ECDSA-AES128-SHA256 offered: handshake_failure
    py-fail-unknown-ca-tls12 8444 the client trusts no CA: it sends unknown_ca (in the clear)
    py-fail-unknown-ca-tls13 8445 the same in TLS 1.3; the alert is in the clear too: OpenSSL's
                               client rejects the certificate before the server's Finished,
                               while it still writes plaintext records
    py-fail-hostname     8444  TLS 1.2, SNI wrong.wirespan.test: the name check fails
  PyMySQL (ssl= an SSLContext with keylog_filename; PyMySQL uses a context given as ssl= as it
  is; SNI db.wirespan.test set by a context subclass, since PyMySQL would send the IP)
    mysql-tls13          3306  eleven statements (one error), Ssl_version/Ssl_cipher as the server sees them
    mysql-tls12          3306  TLS 1.2 with ECDHE-ECDSA-CHACHA20-POLY1305, three statements
  (PyMySQL itself sends "SET NAMES utf8mb4" first on each connection: logged, untimed, with
  "sent_by": "pymysql.connect")

The JSON: {"server", "client", "tools", "certificates": {name: {file, key, subject, issuer,
not_before, not_after, sans, sha256}}, "connections": [...]}; one connection:
  id, client ("curl", "python-http.client", "python-h2", "python-ssl", "pymysql"), case,
  client_address, client_port, server_address, server_port, sni (null when none was sent),
  alpn_offered (list or null), outcome ("established" | "failed"),
  tls_version ("1.2"/"1.3"), tls_version_reported ("TLSv1.3" as the library says),
  cipher (IANA name), cipher_reported (the library's name: OpenSSL's for TLS 1.2),
  alpn (selected, or null), session_offered (a saved session was offered), session_reused,
  hello_retry_request (curl: two ServerHellos seen; null for Python, which cannot tell),
  server_cert ({subject, issuer (RFC 4514, CN first), not_after (ISO 8601 UTC), source:
  "getpeercert" | "curl" | "files" (the certificate the server serves, for a client that
  rejected it)} or null when no certificate was sent or the connection was resumed without one),
  alert (failures: {description (TLS alert name), sent_by ("server" | "client"), encrypted
  (true: inside a record under the handshake keys, as the case is built; verify_code: the
  X509_V_ERR number when the client rejected the certificate)}), error (the exception or curl's message), handshake_start_ns / handshake_end_ns
  (wall clock; Python: around the handshake after the TCP connect; curl: its ClientHello to
  "SSL connection using"; failures: until the error), requests ([{method, path, status,
  http_version, stream_id (h2), request_body_size, response_body_size, start_ns, end_ns}]),
  queries (MySQL: [{statement, rows (result rows, null without a result set), affected_rows,
  error_code (null or the MySQL error number), start_ns, end_ns}]), server_view (MySQL: the
  server's Ssl_version and Ssl_cipher). Python's times are time.time_ns(); curl's are its
  trace's time stamps (µs, so they end in 000): a request from "=> Send header" to the last
  "<= Recv header/data" of its answer.

Client ports, times, keys, session tickets and certificates change from run to run; the JSON
records them. Nothing else varies: the same requests in the same order.
"""

import datetime
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse

import h2.config
import h2.connection
import h2.events
import pymysql

SERVER, PKI, KEYLOG, OUT, WORK, DB_USER, DB_PASSWORD = sys.argv[1:8]
CLIENT_ADDRESS = None  # learned from the first socket
CA = os.path.join(PKI, "ca.pem")
WEB, API, RSA, DB = "web.wirespan.test", "api.wirespan.test", "rsa.wirespan.test", "db.wirespan.test"
UA = "wirespan-tls-client/1"
connections = []

# OpenSSL's TLS 1.2 cipher names -> IANA names (TLS 1.3 names are the IANA ones already).
IANA = {
    "ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "AES128-GCM-SHA256": "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "AES256-GCM-SHA384": "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-ECDSA-AES128-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
}
# The alert OpenSSL's client sends for a certificate verification error
# (ssl_x509err2alert in OpenSSL 3.0's ssl/statem/statem_lib.c), by X509_V_ERR_* code.
VERIFY_ALERT = {
    2: "unknown_ca",  # UNABLE_TO_GET_ISSUER_CERT
    18: "unknown_ca",  # DEPTH_ZERO_SELF_SIGNED_CERT
    19: "unknown_ca",  # SELF_SIGNED_CERT_IN_CHAIN
    20: "unknown_ca",  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: "unknown_ca",  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    10: "certificate_expired",  # CERT_HAS_EXPIRED
    62: "bad_certificate",  # HOSTNAME_MISMATCH
}
RDN = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
       "countryName": "C"}


def iana(name):
    return name if name is None or name.startswith("TLS_") else IANA[name]


def version_number(v):
    return {"TLSv1.2": "1.2", "TLSv1.3": "1.3"}[v] if v else None


def iso(epoch_s):
    return datetime.datetime.fromtimestamp(epoch_s, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def openssl_date(s):
    """'Jul 10 12:00:00 2026 GMT' (OpenSSL's form, also curl's) -> ISO 8601 UTC."""
    return iso(ssl.cert_time_to_seconds(s.strip()))


def dn_from_peercert(rdns):
    """getpeercert()'s subject/issuer tuples -> RFC 4514 (most specific first)."""
    return ",".join(f"{RDN.get(k, k)}={v}" for rdn in reversed(rdns) for k, v in rdn)


def dn_from_openssl(s):
    """'O = wirespan test, CN = web.wirespan.test' or curl's 'O=wirespan test; CN=...' ->
    RFC 4514 (most specific first)."""
    parts = [p.strip() for p in re.split(r"[;,]\s*(?=[A-Za-z]+\s*=)", s.strip()) if p.strip()]
    return ",".join(re.sub(r"\s*=\s*", "=", p, count=1) for p in reversed(parts))


def openssl_x509(path):
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-subject", "-issuer",
                          "-startdate", "-enddate", "-fingerprint", "-sha256", "-ext",
                          "subjectAltName"], check=True, capture_output=True, text=True).stdout
    f = {}
    for line in out.splitlines():
        if "=" in line and not line.startswith(" "):
            k, v = line.split("=", 1)
            f[k.strip()] = v.strip()
    sans = re.findall(r"(DNS:[^,\s]+|IP Address:[^,\s]+)", out)
    key = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-text"], check=True,
                         capture_output=True, text=True).stdout
    kind = "ECDSA P-256" if "prime256v1" in key else "RSA 2048" if "(2048 bit)" in key else "?"
    return {"file": os.path.basename(path), "key": kind, "subject": dn_from_openssl(f["subject"]),
            "issuer": dn_from_openssl(f["issuer"]), "not_before": openssl_date(f["notBefore"]),
            "not_after": openssl_date(f["notAfter"]), "sans": sans,
            "sha256": f["sha256 Fingerprint"].replace(":", "").lower()}


CERTS = {name: openssl_x509(os.path.join(PKI, f"{name}.pem")) for name in ("ca", "web", "rsa")}


def cert_from_files(name):
    c = CERTS[name]
    return {"subject": c["subject"], "issuer": c["issuer"], "not_after": c["not_after"],
            "source": "files"}


def new_record(cid, client, case, port, sni, alpn_offered):
    return {
        "id": cid, "client": client, "case": case,
        "client_address": None, "client_port": None,
        "server_address": SERVER, "server_port": port, "sni": sni,
        "alpn_offered": alpn_offered, "outcome": None,
        "tls_version": None, "tls_version_reported": None,
        "cipher": None, "cipher_reported": None, "alpn": None,
        "session_offered": False, "session_reused": False, "hello_retry_request": None,
        "server_cert": None, "alert": None, "error": None,
        "handshake_start_ns": None, "handshake_end_ns": None,
        "requests": [],
    }


# ---------------------------------------------------------------------------------- Python


def context(max_version=None, min_version=None, ciphers=None, alpn=None, trust=True, cls=None):
    ctx = (cls or ssl.SSLContext)(ssl.PROTOCOL_TLS_CLIENT)
    ctx.keylog_filename = KEYLOG
    if trust:
        ctx.load_verify_locations(CA)
    if max_version:
        ctx.maximum_version = max_version
    if min_version:
        ctx.minimum_version = min_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def fill_from_socket(rec, s):
    rec["outcome"] = "established"
    rec["tls_version_reported"] = s.version()
    rec["tls_version"] = version_number(s.version())
    rec["cipher_reported"] = s.cipher()[0]
    rec["cipher"] = iana(s.cipher()[0])
    rec["alpn"] = s.selected_alpn_protocol()
    rec["session_reused"] = s.session_reused
    pc = s.getpeercert()
    rec["server_cert"] = {"subject": dn_from_peercert(pc["subject"]),
                          "issuer": dn_from_peercert(pc["issuer"]),
                          "not_after": openssl_date(pc["notAfter"]), "source": "getpeercert"}


def tls_connect(cid, client, case, port, sni, ctx, session=None, served=None, alpn=None):
    """TCP connect, then the TLS handshake, timed alone. Returns (socket or None, record).
    served: the certificate (PKI name) the server sends, for a client that rejects it;
    alpn: what the context offers (for the record)."""
    global CLIENT_ADDRESS
    rec = new_record(cid, client, case, port, sni, alpn)
    raw = socket.create_connection((SERVER, port), timeout=5)
    rec["client_address"], rec["client_port"] = raw.getsockname()[:2]
    CLIENT_ADDRESS = rec["client_address"]
    rec["session_offered"] = session is not None
    rec["handshake_start_ns"] = time.time_ns()
    try:
        s = ctx.wrap_socket(raw, server_hostname=sni or SERVER, session=session)
    except ssl.SSLCertVerificationError as e:
        rec["handshake_end_ns"] = time.time_ns()
        raw.close()
        rec["outcome"] = "failed"
        rec["error"] = str(e)
        rec["alert"] = {"description": VERIFY_ALERT[e.verify_code], "sent_by": "client",
                        "verify_code": e.verify_code}
        rec["server_cert"] = cert_from_files(served) if served else None
        connections.append(rec)
        return None, rec
    except ssl.SSLError as e:
        rec["handshake_end_ns"] = time.time_ns()
        raw.close()
        rec["outcome"] = "failed"
        rec["error"] = str(e)
        m = re.match(r"(?:TLSV1|SSLV3)_ALERT_(\w+)", e.reason or "")
        rec["alert"] = {"description": m.group(1).lower() if m else None, "sent_by": "server"}
        connections.append(rec)
        return None, rec
    rec["handshake_end_ns"] = time.time_ns()
    fill_from_socket(rec, s)
    connections.append(rec)
    return s, rec


def body_of(n, seed):
    return (seed * ((n // len(seed)) + 1))[:n]


def http1(cid, case, port, sni, ctx, requests, session=None, alpn=("http/1.1",)):
    """HTTP/1.1 keep-alive requests with http.client over one TLS connection."""
    s, rec = tls_connect(cid, "python-http.client", case, port, sni, ctx, session,
                         alpn=list(alpn) if alpn else None)
    assert s is not None, rec["error"]
    conn = http.client.HTTPSConnection(sni or SERVER, port, context=ctx, timeout=5)
    conn.sock = s
    for method, path, body in requests:
        headers = {"User-Agent": UA}
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
        start = time.time_ns()
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        end = time.time_ns()
        rec["requests"].append({
            "method": method, "path": path, "status": resp.status, "http_version": "1.1",
            "request_body_size": len(body) if body is not None else 0,
            "response_body_size": len(data), "start_ns": start, "end_ns": end})
    session_out = s.session
    conn.close()
    return rec, session_out


def http2(cid, case, port, sni, ctx, requests):
    """All requests as concurrent HTTP/2 streams (h2) on one TLS connection (ALPN h2)."""
    s, rec = tls_connect(cid, "python-h2", case, port, sni, ctx, alpn=["h2"])
    assert s is not None, rec["error"]
    assert rec["alpn"] == "h2", rec
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    s.sendall(conn.data_to_send())
    streams = {}
    for method, path, body in requests:
        sid = conn.get_next_available_stream_id()
        headers = [(":method", method), (":scheme", "https"), (":authority", f"{sni}:{port}"),
                   (":path", path), ("user-agent", UA + " h2")]
        if body is not None:
            headers += [("content-type", "application/octet-stream"),
                        ("content-length", str(len(body)))]
        r = {"method": method, "path": path, "status": None, "http_version": "2",
             "stream_id": sid, "request_body_size": len(body) if body is not None else 0,
             "response_body_size": 0, "start_ns": time.time_ns(), "end_ns": None}
        conn.send_headers(sid, headers, end_stream=body is None)
        if body is not None:
            conn.send_data(sid, body, end_stream=True)
        s.sendall(conn.data_to_send())
        streams[sid] = r
        rec["requests"].append(r)
    pending = set(streams)
    while pending:
        data = s.recv(65536)
        if not data:
            raise EOFError(f"{cid}: the server closed with streams {sorted(pending)} open")
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                streams[ev.stream_id]["status"] = int(dict(ev.headers)[":status"])
            elif isinstance(ev, h2.events.DataReceived):
                streams[ev.stream_id]["response_body_size"] += len(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                streams[ev.stream_id]["end_ns"] = time.time_ns()
                pending.discard(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                streams[ev.stream_id]["end_ns"] = time.time_ns()
                streams[ev.stream_id]["reset"] = ev.error_code
                pending.discard(ev.stream_id)
        out = conn.data_to_send()
        if out:
            s.sendall(out)
    conn.close_connection()
    s.sendall(conn.data_to_send())
    s.close()
    return rec


def failing(cid, case, port, sni, ctx, served=None, encrypted=False):
    """A handshake that must fail. encrypted: the alert goes in a record protected by the
    handshake keys, as the case is built (none here: see py-fail-unknown-ca-tls13)."""
    s, rec = tls_connect(cid, "python-ssl", case, port, sni, ctx, served=served)
    assert s is None, f"{cid}: the handshake should have failed"
    assert rec["alert"]["description"], rec
    rec["alert"]["encrypted"] = encrypted
    return rec


# ---------------------------------------------------------------------------------- MySQL


class SNIContext(ssl.SSLContext):
    """PyMySQL wraps its socket with server_hostname=host (an IP here, so no SNI); this sends
    self.sni instead and times the handshake."""

    sni = None
    handshake = (None, None)

    def wrap_socket(self, sock, *args, server_hostname=None, **kwargs):
        start = time.time_ns()
        s = super().wrap_socket(sock, *args, server_hostname=self.sni, **kwargs)
        self.handshake = (start, time.time_ns())
        return s


def mysql(cid, case, ctx, statements):
    ctx.sni = DB
    rec = new_record(cid, "pymysql", case, 3306, DB, None)
    rec["queries"] = []
    del rec["requests"]
    conn = pymysql.connect(host=SERVER, port=3306, user=DB_USER, password=DB_PASSWORD,
                           database="shop", ssl=ctx, autocommit=True, connect_timeout=5)
    s = conn._sock
    assert isinstance(s, ssl.SSLSocket), "PyMySQL did not switch to TLS"
    rec["client_address"], rec["client_port"] = s.getsockname()[:2]
    rec["handshake_start_ns"], rec["handshake_end_ns"] = ctx.handshake
    fill_from_socket(rec, s)
    # PyMySQL's own first statement, sent inside connect() after the login (not timed)
    names = f"SET NAMES {conn.charset}" + (f" COLLATE {conn.collation}" if conn.collation else "")
    rec["queries"].append({"statement": names, "rows": None, "affected_rows": 0,
                           "error_code": None, "start_ns": None, "end_ns": None,
                           "sent_by": "pymysql.connect"})
    cur = conn.cursor()
    view = {}
    for sql in statements:
        q = {"statement": sql, "rows": None, "affected_rows": None, "error_code": None}
        q["start_ns"] = time.time_ns()
        try:
            n = cur.execute(sql)
            rows = cur.fetchall()
            q["end_ns"] = time.time_ns()
            if cur.description is not None:
                q["rows"] = len(rows)
                if sql.startswith("SHOW SESSION STATUS"):
                    view.update({k: v for k, v in rows})
            else:
                q["affected_rows"] = n
        except pymysql.MySQLError as e:
            q["end_ns"] = time.time_ns()
            q["error_code"] = e.args[0]
        rec["queries"].append(q)
    rec["server_view"] = view
    conn.close()
    connections.append(rec)
    return rec


# ---------------------------------------------------------------------------------- curl

TRACE_LINE = re.compile(
    r"^(\d\d):(\d\d):(\d\d)\.(\d{6}) (== Info: |=> Send header|=> Send data|<= Recv header|"
    r"<= Recv data|=> Send SSL data|<= Recv SSL data)(.*)$")


def trace_events(path, started_ns):
    """curl's --trace-ascii --trace-time trace -> [(ns, kind, text)]. The time stamps are the
    local time of day (µs); the date is the run's (the day after if the clock went past
    midnight)."""
    base = datetime.datetime.fromtimestamp(started_ns / 1e9).replace(
        hour=0, minute=0, second=0, microsecond=0)
    events = []
    with open(path, errors="replace") as f:
        for line in f:
            m = TRACE_LINE.match(line.rstrip("\n"))
            if not m:
                continue
            h, mi, se, us = (int(x) for x in m.groups()[:4])
            t = base + datetime.timedelta(hours=h, minutes=mi, seconds=se, microseconds=us)
            ns = int(t.timestamp()) * 1_000_000_000 + us * 1000
            if ns < started_ns - 12 * 3600 * 10**9:
                ns += 86400 * 10**9
            kind = {"== Info: ": "info"}.get(m.group(5), m.group(5)[3:].lower().replace(" ", "_"))
            events.append((ns, kind, m.group(6)))
    return events


def curl(cid, case, transfers):
    """One curl process; transfers: [(options, url)] joined by --next (connections and TLS
    sessions are shared between them). One record per TCP connection curl made."""
    trace = os.path.join(WORK, f"curl-{cid}.trace")
    argv = ["curl", "--silent", "--show-error", "--trace-ascii", trace, "--trace-time"]
    for i, (opts, url) in enumerate(transfers):
        u = urllib.parse.urlsplit(url)
        if i:
            argv.append("--next")
        argv += ["--cacert", CA, "-A", UA + " curl"]
        if not re.match(r"^[\d.]+$", u.hostname):
            argv += ["--resolve", f"{u.hostname}:{u.port}:{SERVER}"]
        argv += opts + ["-o", "/dev/null", "-w", "%{json}\\n", url]
    env = dict(os.environ, SSLKEYLOGFILE=KEYLOG)
    started = time.time_ns()
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=20)
    if p.returncode != 0:
        raise RuntimeError(f"{cid}: curl exited {p.returncode}: {p.stderr.strip()}")
    results = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    assert len(results) == len(transfers), (cid, p.stdout)
    events = trace_events(trace, started)

    # split the trace into connections (by curl's #N) and requests
    conns = {}  # curl connection number -> {"events": [...], "requests": [...]}
    order = []
    current = None
    requests = []  # in order: {"conn", "events"}
    for ev in events:
        ns, kind, text = ev
        m = re.match(r"Connected to \S+ \(([\d.]+)\) port (\d+) \(#(\d+)\)", text) \
            if kind == "info" else None
        if m:
            current = int(m.group(3))
            conns[current] = {"events": [], "requests": []}
            order.append(current)
        m2 = re.match(r"Re-using existing connection #?(\d+)", text) if kind == "info" else None
        if m2:
            current = int(m2.group(1))
        if current is None:
            continue
        if kind == "send_header":
            requests.append({"conn": current, "events": []})
        if requests and requests[-1]["conn"] == current and kind in (
                "send_header", "send_data", "recv_header", "recv_data"):
            requests[-1]["events"].append(ev)
        conns[current]["events"].append(ev)
    assert len(requests) == len(results), (cid, len(requests), len(results))
    assert len(order) == sum(r["num_connects"] for r in results), (cid, order, results)

    recs = []
    for k, n in enumerate(order):
        c = conns[n]
        first = next(i for i, r in enumerate(requests) if r["conn"] == n)
        url = urllib.parse.urlsplit(results[first]["url_effective"])
        host_is_ip = re.match(r"^[\d.]+$", url.hostname) is not None
        rec = new_record(cid if len(order) == 1 else f"{cid}-{'ab'[k]}", "curl", case,
                         url.port, None if host_is_ip else url.hostname, None)
        rec["client_address"] = results[first]["local_ip"]
        rec["client_port"] = results[first]["local_port"]
        assert results[first]["remote_port"] == url.port
        info = [(ns, t) for ns, kind, t in c["events"] if kind == "info"]
        text = [t for _, t in info]

        def find(pattern):
            for ns, t in info:
                m = re.search(pattern, t)
                if m:
                    return ns, m
            return None, None

        hs_start, _ = find(r"TLSv1\.\d \(OUT\), TLS handshake, Client hello")
        hs_end, m = find(r"SSL connection using (\S+) / (\S+)")
        rec["handshake_start_ns"], rec["handshake_end_ns"] = hs_start, hs_end
        rec["outcome"] = "established"
        rec["tls_version_reported"], rec["cipher_reported"] = m.group(1), m.group(2)
        rec["tls_version"] = version_number(m.group(1))
        rec["cipher"] = iana(m.group(2))
        _, m = find(r"ALPN[:,] offers (\S+)")
        rec["alpn_offered"] = m.group(1).split(",") if m else None
        _, m = find(r"ALPN[:,] server accepted(?: to use)? (\S+)")
        rec["alpn"] = m.group(1) if m else None
        rec["session_offered"] = any("SSL re-using session ID" in t for t in text)
        server_certificate = any(re.search(r"\(IN\), TLS handshake, Certificate \(11\)", t)
                                 for t in text)
        rec["session_reused"] = rec["session_offered"] and not server_certificate
        rec["hello_retry_request"] = sum(
            bool(re.search(r"\(IN\), TLS handshake, Server hello \(2\)", t)) for t in text) > 1
        _, subj = find(r"^\s*subject: (.*)$")
        _, iss = find(r"^\s*issuer: (.*)$")
        _, exp = find(r"^\s*expire date: (.*)$")
        if subj:
            rec["server_cert"] = {"subject": dn_from_openssl(subj.group(1)),
                                  "issuer": dn_from_openssl(iss.group(1)),
                                  "not_after": openssl_date(exp.group(1)), "source": "curl"}
        for res, req in zip(results, requests):
            if req["conn"] != n:
                continue
            evs = req["events"]
            recv = [e[0] for e in evs if e[1] in ("recv_header", "recv_data")]
            u = urllib.parse.urlsplit(res["url_effective"])
            rec["requests"].append({
                "method": res["method"], "path": u.path + (f"?{u.query}" if u.query else ""),
                "status": res["http_code"], "http_version": res["http_version"],
                "request_body_size": res["size_upload"],
                "response_body_size": res["size_download"],
                "start_ns": evs[0][0], "end_ns": recv[-1] if recv else None})
        connections.append(rec)
        recs.append(rec)
    return recs


# ---------------------------------------------------------------------------------- cases

def run():
    # curl: h1/h2 over TLS 1.3 and 1.2, chosen ciphers, the RSA server, no SNI, resumption
    h1, h2_ = ["--http1.1"], ["--http2"]
    t12 = ["--tls-max", "1.2"]
    curl("curl-h1-tls13", "HTTP/1.1 over TLS 1.3, two URLs on one connection",
         [(h1, f"https://{WEB}:8443/index.html"), (h1, f"https://{WEB}:8443/data.json")])
    curl("curl-h2-tls13", "HTTP/2 over TLS 1.3, two URLs on one connection",
         [(h2_, f"https://{WEB}:8443/index.html"), (h2_, f"https://{WEB}:8443/big.bin")])
    curl("curl-h1-tls12", "HTTP/1.1 over TLS 1.2 (--tls-max 1.2), the server's choice of cipher",
         [(h1 + t12, f"https://{WEB}:8444/small.txt")])
    cc = t12 + ["--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305"]
    curl("curl-h2-tls12-chacha", "HTTP/2 over TLS 1.2, ECDHE-ECDSA-CHACHA20-POLY1305, GET + POST",
         [(h2_ + cc, f"https://{API}:8444/index.html"),
          (h2_ + cc + ["--data-binary", "@" + os.path.join(WORK, "post.bin"),
                       "-H", "Content-Type: application/octet-stream"],
           f"https://{API}:8444/api/echo")])
    curl("curl-h1-tls13-chacha", "HTTP/1.1 over TLS 1.3 only, TLS_CHACHA20_POLY1305_SHA256",
         [(h1 + ["--tls13-ciphers", "TLS_CHACHA20_POLY1305_SHA256"],
           f"https://{WEB}:8445/index.html")])
    a256 = ["--tls13-ciphers", "TLS_AES_256_GCM_SHA384"]
    curl("curl-h2-tls13-aes256", "HTTP/2 over TLS 1.3, TLS_AES_256_GCM_SHA384, GET + POST",
         [(h2_ + a256, f"https://{WEB}:8443/data.json"),
          (h2_ + a256 + ["--data-binary", "@" + os.path.join(WORK, "post.bin"),
                         "-H", "Content-Type: application/octet-stream"],
           f"https://{WEB}:8443/api/echo?from=curl")])
    curl("curl-rsa-tls12-chacha", "RSA certificate, TLS 1.2, ECDHE-RSA-CHACHA20-POLY1305",
         [(h1 + t12 + ["--ciphers", "ECDHE-RSA-CHACHA20-POLY1305"],
           f"https://{RSA}:8446/index.html")])
    curl("curl-rsa-tls12-kx-rsa", "RSA certificate, TLS 1.2, RSA key exchange (AES128-GCM-SHA256)",
         [(h1 + t12 + ["--ciphers", "AES128-GCM-SHA256"], f"https://{RSA}:8446/small.txt")])
    curl("curl-rsa-tls13-hrr", "RSA certificate, TLS 1.3, HelloRetryRequest (no X25519 there), 404",
         [(h1, f"https://{RSA}:8446/missing.html")])
    curl("curl-h1-no-sni", "HTTP/1.1 over TLS 1.3 to the IP address: no SNI; "
         "TLS_AES_128_GCM_SHA256",
         [(h1 + ["--tls13-ciphers", "TLS_AES_128_GCM_SHA256"],
           f"https://{SERVER}:8443/index.html")])
    close = ["-H", "Connection: close"]
    curl("curl-resume-tls13", "TLS 1.3, Connection: close, the second connection resumes",
         [(h1 + close, f"https://{WEB}:8445/index.html"),
          (h1 + close, f"https://{WEB}:8445/small.txt")])
    curl("curl-resume-tls12", "TLS 1.2, Connection: close, the second connection resumes (ticket)",
         [(h1 + t12 + close, f"https://{WEB}:8444/index.html"),
          (h1 + t12 + close, f"https://{WEB}:8444/small.txt")])

    # Python: http.client keep-alive, h2 streams, resumption, failures
    http1("py-h1-keepalive", "HTTP/1.1 keep-alive over TLS 1.3 (http.client)", 8443, WEB,
          context(alpn=["http/1.1"]),
          [("GET", "/index.html", None), ("GET", "/data.json", None),
           ("POST", "/api/echo", body_of(512, b"py-h1-")), ("GET", "/missing.html", None),
           ("GET", "/big.bin", None)])
    http2("py-h2-tls13", "HTTP/2 over TLS 1.3 (h2), five concurrent streams", 8443, WEB,
          context(alpn=["h2"]),
          [("GET", "/index.html", None), ("GET", "/data.json", None), ("GET", "/big.bin", None),
           ("GET", "/missing.html", None), ("POST", "/api/echo?via=h2", body_of(2000, b"py-h2-"))])
    http2("py-h2-tls12", "HTTP/2 over TLS 1.2 (h2), ECDHE-ECDSA-AES128-GCM-SHA256, three streams", 8444, API,
          context(alpn=["h2"], max_version=ssl.TLSVersion.TLSv1_2,
                  ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"),
          [("GET", "/small.txt", None), ("GET", "/data.json", None),
           ("POST", "/api/echo", body_of(300, b"py-h2-12-"))])
    for cid, case, port, sni, ctx in (
            ("py-resume-tls13", "TLS 1.3 resumption (session ticket)", 8445, WEB,
             context(alpn=["http/1.1"])),
            ("py-resume-tls12", "TLS 1.2 resumption (session ticket)", 8444, WEB,
             context(alpn=["http/1.1"], max_version=ssl.TLSVersion.TLSv1_2)),
            ("py-resume-tls12-sid", "TLS 1.2 resumption by session id (no tickets there)", 8446,
             RSA, context(alpn=["http/1.1"], max_version=ssl.TLSVersion.TLSv1_2))):
        first, session = http1(cid + "-a", case + ": the full handshake", port, sni, ctx,
                               [("GET", "/index.html", None)])
        assert session is not None, cid
        second, _ = http1(cid + "-b", case + ": resumed", port, sni, ctx,
                          [("GET", "/small.txt", None)], session=session)
        assert second["session_reused"], f"{cid}: not resumed"
    failing("py-fail-version", "TLS 1.2-only client, TLS 1.3-only server: protocol_version",
            8445, WEB, context(max_version=ssl.TLSVersion.TLSv1_2))
    failing("py-fail-cipher", "no cipher the TLS 1.2 server accepts: handshake_failure", 8444,
            WEB, context(max_version=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-SHA256"))
    failing("py-fail-unknown-ca-tls12", "TLS 1.2, the client trusts no CA: unknown_ca", 8444, WEB,
            context(max_version=ssl.TLSVersion.TLSv1_2, trust=False), served="web")
    failing("py-fail-unknown-ca-tls13", "TLS 1.3, the client trusts no CA: unknown_ca (in the "
            "clear: the client still writes plaintext records then)", 8445, WEB,
            context(trust=False), served="web")
    failing("py-fail-hostname", "TLS 1.2, SNI wrong.wirespan.test: the name check fails", 8444,
            "wrong.wirespan.test", context(max_version=ssl.TLSVersion.TLSv1_2), served="web")

    # MariaDB over TLS (PyMySQL, ssl=SSLContext with keylog_filename)
    mysql("mysql-tls13", "MariaDB over TLS 1.3 (PyMySQL)", context(cls=SNIContext), [
        "SELECT VERSION()",
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(8,2))",
        "INSERT INTO items VALUES (1, 'tea', 3.50), (2, 'coffee', 4.20), (3, 'cake', 5.00)",
        "SELECT id, name, price FROM items ORDER BY id",
        "UPDATE items SET price = price + 1 WHERE id > 1",
        "SELECT * FROM no_such_table",
        "SELECT name FROM items WHERE price > 4 ORDER BY id",
        "SHOW SESSION STATUS LIKE 'Ssl_version'",
        "SHOW SESSION STATUS LIKE 'Ssl_cipher'",
        "DELETE FROM items WHERE id = 3",
        "SELECT COUNT(*) FROM items",
    ])
    mysql("mysql-tls12", "MariaDB over TLS 1.2, ECDHE-ECDSA-CHACHA20-POLY1305 (PyMySQL)",
          context(cls=SNIContext, max_version=ssl.TLSVersion.TLSv1_2,
                  ciphers="ECDHE-ECDSA-CHACHA20-POLY1305"), [
        "SELECT id, name FROM items ORDER BY id",
        "SHOW SESSION STATUS LIKE 'Ssl_version'",
        "SHOW SESSION STATUS LIKE 'Ssl_cipher'",
    ])


def tools():
    curl_v = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
    return {"curl": curl_v.splitlines()[0], "python": sys.version.split()[0],
            "python_ssl": ssl.OPENSSL_VERSION, "h2": h2.__version__,
            "pymysql": pymysql.__version__}


def table():
    print(f"{'id':26} {'port':>5} {'client':18} {'ver':4} {'cipher':46} {'alpn':9} {'res':4} outcome")
    for c in connections:
        out = c["outcome"] if c["outcome"] == "established" else \
            f"failed: {c['alert']['description']} ({c['alert']['sent_by']})"
        n = len(c.get("requests") or c.get("queries") or [])
        print(f"{c['id']:26} {c['server_port']:>5} {c['client']:18} {c['tls_version'] or '-':4} "
              f"{c['cipher'] or '-':46} {c['alpn'] or '-':9} {'yes' if c['session_reused'] else 'no':4} "
              f"{out}" + (f", {n} {'queries' if 'queries' in c else 'requests'}" if n else ""))


with open(os.path.join(WORK, "post.bin"), "wb") as f:
    f.write(body_of(1000, b"curl-body-"))
run()
with open(OUT, "w") as f:
    json.dump({"server": SERVER, "client": CLIENT_ADDRESS, "tools": tools(),
               "certificates": CERTS, "connections": connections}, f, indent=1)
    f.write("\n")
table()
print(f"tls_client.py: {len(connections)} connections logged to {OUT}")
