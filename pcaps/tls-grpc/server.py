#!/usr/bin/env python3
"""The gRPC server of pcaps/tls-grpc (gen-tls-grpc.sh), and the merge of its log into the
client's record.

    python3 server.py serve --gen DIR --bind 10.213.0.2:50443 --cert C --key K --log server.jsonl
    python3 server.py merge --client client.json --server-log server.jsonl --out expected.json

`serve`: grpcio (grpc-core, BoringSSL) with ssl_server_credentials: TLS 1.2 and 1.3, ALPN h2
(grpc-core's own), serving wirespan.test.Echo of echo.proto, whose modules DIR holds
(grpc_tools.protoc makes them at run time; none is kept in the repository). Every call is
logged as one JSON line when it ends: its method path, the peer grpc-core reports
(ipv4:ADDR:PORT), the TLS facts of its auth context, the messages it read (as JSON, fields at
their defaults left out) and how many it wrote, the status it ended with and the traceparent it
got. It stops by itself after 120 s.

`merge`: every call of the client's record must be one call of the server's log, on the same
connection (the client port the client saw is the server's peer port), with the same method,
request messages, message counts, status and traceparent; the server's view is added to each call (`server`) and the result
written to the expected file. Exits 1 (saying why) when anything disagrees.
"""
import argparse
import collections
import json
import os
import sys
import threading
import time
from concurrent import futures

VALUES = {"k-1": "one", "k-2": "two", "k-3": "three"}


def not_found_message(key):
    # '%' and a non-ASCII letter: grpc-message travels percent-encoded (gRPC's HTTP/2 spec).
    return f"no entry for key {key}: 100% missing (café)"


def aborted_message(sent, n):
    return f"stopped after {sent} of {n}"


def serve(args):
    import grpc

    sys.path.insert(0, args.gen)
    import echo_pb2  # noqa: E402
    import echo_pb2_grpc  # noqa: E402
    from google.protobuf import json_format

    log = open(args.log, "a", buffering=1)
    lock = threading.Lock()

    def auth(context):
        a = context.auth_context()
        return {k: [v.decode("utf-8", "replace") for v in vs] for k, vs in a.items()
                if k in ("transport_security_type", "security_level", "ssl_session_reused")}

    class Call:
        def __init__(self, context, method):
            md = dict(context.invocation_metadata())
            self.rec = {
                "path": f"/wirespan.test.Echo/{method}",
                "peer": context.peer(),
                "auth": auth(context),
                "traceparent": md.get("traceparent"),
                "start_ns": time.time_ns(),
                "request": [],
                "request_messages": 0,
                "response_messages": 0,
                "grpc_status": 0,
                "grpc_message": None,
            }

        def got(self, request):
            self.rec["request"].append(
                json_format.MessageToDict(request, preserving_proto_field_name=True))
            self.rec["request_messages"] += 1

        def fail(self, context, code, message):
            self.rec["grpc_status"] = code.value[0]
            self.rec["grpc_message"] = message
            context.abort(code, message)

        def done(self):
            self.rec["end_ns"] = time.time_ns()
            with lock:
                log.write(json.dumps(self.rec) + "\n")

    class Echo(echo_pb2_grpc.EchoServicer):
        def Say(self, request, context):
            c = Call(context, "Say")
            try:
                c.got(request)
                time.sleep(request.delay_ms / 1000)
                c.rec["response_messages"] = 1
                return echo_pb2.SayReply(text=request.text, length=len(request.text))
            finally:
                c.done()

        def Count(self, request, context):
            c = Call(context, "Count")
            c.got(request)
            try:
                for i in range(request.n):
                    if request.fail_after and i == request.fail_after:
                        c.fail(context, grpc.StatusCode.ABORTED,
                               aborted_message(i, request.n))
                    if i and request.delay_ms:
                        time.sleep(request.delay_ms / 1000)
                    c.rec["response_messages"] += 1
                    yield echo_pb2.CountReply(key=request.key, i=i)
            finally:
                c.done()

        def Lookup(self, request, context):
            c = Call(context, "Lookup")
            try:
                c.got(request)
                if request.key not in VALUES:
                    c.fail(context, grpc.StatusCode.NOT_FOUND, not_found_message(request.key))
                c.rec["response_messages"] = 1
                return echo_pb2.LookupReply(key=request.key, value=VALUES[request.key])
            finally:
                c.done()

        def Gather(self, request_iterator, context):
            c = Call(context, "Gather")
            try:
                texts = []
                for r in request_iterator:
                    c.got(r)
                    texts.append(r.text)
                c.rec["response_messages"] = 1
                return echo_pb2.GatherReply(joined=" ".join(texts), count=len(texts))
            finally:
                c.done()

    with open(args.cert, "rb") as f:
        cert = f.read()
    with open(args.key, "rb") as f:
        key = f.read()
    creds = grpc.ssl_server_credentials([(key, cert)])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    echo_pb2_grpc.add_EchoServicer_to_server(Echo(), server)
    if server.add_secure_port(args.bind, creds) == 0:
        sys.exit(f"server.py: cannot listen on {args.bind}")
    server.start()
    print(f"server.py: listening on {args.bind} (grpcio {grpc.__version__})", flush=True)
    server.wait_for_termination(timeout=120)
    server.stop(0)


def merge(args):
    with open(args.client) as f:
        exp = json.load(f)
    with open(args.server_log) as f:
        seen = [json.loads(line) for line in f if line.strip()]
    errors = []
    ports = {c["id"]: c["client_port"] for c in exp["connections"]}
    # The server's calls by (peer port, path), in the order they started.
    pending = collections.defaultdict(list)
    for s in sorted(seen, key=lambda s: s["start_ns"]):
        port = int(s["peer"].rsplit(":", 1)[1])
        pending[(port, s["path"])].append(s)
    for call in exp["calls"]:
        port = ports[call["connection"]]
        queue = pending.get((port, call["path"])) or []
        if not queue:
            errors.append(f"call {call['id']} {call['path']}: the server saw no such call "
                          f"from port {port}")
            continue
        # Calls of one method in flight together on one connection: the one that got the
        # messages this call sent (fields at their defaults are not sent: proto3).
        s = next((s for s in queue if s["request"] == call["request"]), queue[0])
        queue.remove(s)
        for k in ("request", "grpc_status", "grpc_message", "request_messages",
                  "response_messages", "traceparent"):
            if s[k] != call.get(k):
                errors.append(f"call {call['id']} {call['path']}: {k}: client {call.get(k)!r}, "
                              f"server {s[k]!r}")
        call["server"] = {"peer": s["peer"], "auth": s["auth"], "start_ns": s["start_ns"],
                          "end_ns": s["end_ns"]}
    left = [s for q in pending.values() for s in q]
    if left:
        errors.append(f"the server saw calls the client did not make: {left}")
    if errors:
        print("server.py merge: the client and the server disagree:", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        sys.exit(1)
    import google.protobuf
    import grpc

    exp["versions"]["grpcio"] = grpc.__version__
    exp["versions"]["protobuf"] = google.protobuf.__version__
    with open(args.out, "w") as f:
        json.dump(exp, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"server.py merge: {len(exp['calls'])} calls on {len(ports)} connections agree")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--gen", required=True)
    s.add_argument("--bind", required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--log", required=True)
    m = sub.add_parser("merge")
    m.add_argument("--client", required=True)
    m.add_argument("--server-log", required=True)
    m.add_argument("--out", required=True)
    args = p.parse_args()
    if args.cmd == "serve":
        serve(args)
    else:
        merge(args)


if __name__ == "__main__":
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    main()
