"""Sends requests a strict parser refuses, but servers answer, for pcaps/lenient, one
connection each, and records what it sent and what came back (lenient.expected.json).

Each case: the bytes, in the pieces they are written in (several pieces: one TCP segment
each, Nagle off), and what a reader of the request should make of it: method, path, whether
the request line or head breaks the rules (`malformed`) and whether it has no version."""

import json
import socket
import sys
import time

HOST = "Host: lenient\r\n"
CLOSE = "Connection: close\r\n"


def case(name, port, pieces, method, path, malformed=False, versionless=False):
    if isinstance(pieces, str):
        pieces = [pieces]
    return {
        "name": name,
        "port": port,
        "pieces": pieces,
        "method": method,
        "path": path,
        "malformed": malformed,
        "versionless": versionless,
    }


def cases(nginx, app):
    whole = "GET /index.html HTTP/1.1\r\n" + HOST + CLOSE + "\r\n"
    return [
        # Methods outside the registered list: any token is a method (RFC 9110 §9.1).
        case("query-method", nginx, "QUERY /search?q=1 HTTP/1.1\r\n" + HOST + CLOSE + "\r\n", "QUERY", "/search"),
        case("vendor-method", nginx, "CCM_POST /ccm HTTP/1.1\r\n" + HOST + CLOSE + "\r\n", "CCM_POST", "/ccm"),
        case("query-method-app", app, "QUERY /q HTTP/1.1\r\n" + HOST + "Content-Length: 5\r\n\r\nhello", "QUERY", "/q"),
        case("vendor-method-app", app, "CCM_POST /ccm/v1 HTTP/1.1\r\n" + HOST + "\r\n", "CCM_POST", "/ccm/v1"),
        # HTTP/0.9: a request line without a version; the answer is the body alone.
        case("http09", nginx, "GET /index.html\r\n", "GET", "/index.html", versionless=True),
        # Malformed request lines that a server still answers.
        case("version-cut", nginx, "GET / HTTP/1.\r\n" + HOST + "\r\n", "GET", "/", malformed=True),
        case("no-target", nginx, "GET HTTP/1.1\r\n" + HOST + "\r\n", "GET", "", malformed=True),
        case("space-in-target", nginx, "GET /a b HTTP/1.1\r\n" + HOST + CLOSE + "\r\n", "GET", "/a b", malformed=True),
        case("space-in-target-app", app, "GET /a b HTTP/1.1\r\n" + HOST + "\r\n", "GET", "/a b", malformed=True),
        case("connect-odd", nginx, "CONNECT host:25 / HTTP/1.0\r\n\r\n", "CONNECT", "host:25 /", malformed=True),
        # An obs-folded header line (RFC 9112 §5.2).
        case("obs-fold", nginx, "GET /index.html HTTP/1.1\r\n" + HOST + "X-Folded: a\r\n b\r\n" + CLOSE + "\r\n", "GET", "/index.html", malformed=True),
        case("obs-fold-app", app, "GET /fold HTTP/1.1\r\n" + HOST + "X-Folded: a\r\n b\r\n\r\n", "GET", "/fold", malformed=True),
        # Written a byte (or a few) per segment.
        case("one-byte-segments", nginx, list(whole), "GET", "/index.html"),
        case("few-byte-segments", nginx, ["G", "E", "T /ind", "ex.html HT", whole[len("GET /index.html HT"):]], "GET", "/index.html"),
        case("one-byte-segments-app", app, list("QUERY /slow HTTP/1.1\r\n" + HOST + "\r\n"), "QUERY", "/slow"),
    ]


def run(server, nginx_port, app_port, out_path):
    done = []
    for c in cases(nginx_port, app_port):
        s = socket.create_connection((server, c["port"]), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client_port = s.getsockname()[1]
        for i, piece in enumerate(c["pieces"]):
            if i:
                time.sleep(0.02)
            s.sendall(piece.encode("latin-1"))
        s.settimeout(3)
        answer = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except socket.timeout:
            pass
        s.close()
        status = None
        first = answer.split(b"\r\n", 1)[0]
        if first.startswith(b"HTTP/1."):
            status = int(first.split()[1])
        c = dict(c, client_port=client_port, status=status, answered=bool(answer),
                 response_bytes=len(answer), segments=len(c["pieces"]))
        del c["pieces"]
        done.append(c)
        print(f"{c['name']:24} :{client_port} -> {status} ({len(answer)} bytes)", file=sys.stderr)
        time.sleep(0.05)
    with open(out_path, "w") as f:
        json.dump(done, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
