#!/usr/bin/env python3
"""frontend: Flask, GET /shop?user=N -> cart GetCart (gRPC) -> catalog GET /items (HTTP).

Instrumented with FlaskInstrumentor (SERVER span), GrpcInstrumentorClient
(CLIENT span, traceparent in the gRPC metadata) and RequestsInstrumentor
(CLIENT span, traceparent header).

    python3 frontend.py --gen DIR --bind 10.244.1.10 --cart 10.244.2.10:50051 \
        --catalog http://10.244.2.20:9090 --collector http://10.244.1.1:38086/api/v1/otel/trace \
        --pod frontend --node node1
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import otel_common  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--cart", required=True)
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--collector", required=True)
    ap.add_argument("--pod", default="frontend")
    ap.add_argument("--node", default="node1")
    ap.add_argument("--max-seconds", type=float, default=300)
    a = ap.parse_args()

    otel_common.setup("frontend", a.pod, a.bind, a.node, a.collector)
    otel_common.install_exit_handlers(a.max_seconds)

    # instrument before the channel / app are made
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    GrpcInstrumentorClient().instrument()
    RequestsInstrumentor().instrument()

    import grpc
    import requests
    from flask import Flask, jsonify, request

    pb, pb_grpc = otel_common.load_gen(a.gen)
    # one long-lived channel: all GetCart calls share one HTTP/2 connection,
    # opened lazily by the first call
    channel = grpc.insecure_channel(a.cart)
    stub = pb_grpc.CartStub(channel)
    otel_common.on_exit(channel.close)

    app = Flask("frontend")
    FlaskInstrumentor().instrument_app(app)

    @app.route("/shop")
    def shop():
        user = int(request.args.get("user", "0"))
        cart = stub.GetCart(pb.CartRequest(user_id=user), timeout=10)
        # no Session: one TCP connection per call
        r = requests.get(a.catalog + "/items", params={"user": user}, timeout=10)
        r.raise_for_status()
        items = {it["sku"]: it for it in r.json()["items"]}
        lines = []
        total = 0
        for ln in cart.lines:
            it = items.get(ln.sku, {})
            price = it.get("price_cents", 0)
            total += price * ln.qty
            lines.append({"sku": ln.sku, "qty": ln.qty, "name": it.get("name"),
                          "price_cents": price})
        return jsonify(user=user, lines=lines, total_cents=total)

    app.run(host=a.bind, port=a.port, threaded=True, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
