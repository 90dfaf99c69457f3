"""gRPC-Web server and client for pcaps/grpcweb (sonora over HTTP/1.1).

    GRPCWEB_GEN=DIR gunicorn grpcweb_app:app         # the server, a WSGI app
    python3 grpcweb_app.py client --gen DIR --url http://HOST:PORT --out calls.json

DIR holds the modules grpc_tools.protoc generates from pcaps/grpc/shop.proto. The server is
sonora's WSGI gRPC-Web application with the shop.Cart service; the client is sonora's
gRPC-Web channel (binary, application/grpc-web+proto over requests), plus one call in text
mode (application/grpc-web-text: base64 frames) written with requests directly. Each call's
client port, path, mode, status, message and message counts go to calls.json.
"""

import argparse
import base64
import json
import os
import struct
import sys


def load(gen):
    sys.path.insert(0, gen)
    import shop_pb2
    import shop_pb2_grpc

    return shop_pb2, shop_pb2_grpc


def make_app(gen):
    import grpc
    import sonora.wsgi

    pb, pb_grpc = load(gen)

    class Cart(pb_grpc.CartServicer):
        def GetCart(self, request, context):
            if request.cart_id == "c-404":
                context.set_code(grpc.StatusCode.NOT_FOUND)
                context.set_details(f"cart {request.cart_id} not found")
                return pb.CartReply()
            return pb.CartReply(cart_id=request.cart_id, items=[pb.Item(sku="s-1", qty=2)])

        def ListItems(self, request, context):
            for i in range(request.count):
                yield pb.Item(sku=f"s-{i}", name="thing", qty=i + 1)

    app = sonora.wsgi.grpcWSGI(None)
    pb_grpc.add_CartServicer_to_server(Cart(), app)
    return app


if os.environ.get("GRPCWEB_GEN"):
    app = make_app(os.environ["GRPCWEB_GEN"])


def run_client(args):
    import grpc
    import requests
    import sonora.client

    pb, pb_grpc = load(args.gen)
    calls = []
    ports = []

    # The connection's local port, as the server will see it.
    import urllib3.connection

    orig_connect = urllib3.connection.HTTPConnection.connect

    def connect(self):
        orig_connect(self)
        ports.append(self.sock.getsockname()[1])

    urllib3.connection.HTTPConnection.connect = connect

    def record(path, mode, status, message, sent, received):
        calls.append({"path": path, "mode": mode, "client_port": ports[-1], "status": status,
                      "message": message, "request_messages": sent,
                      "response_messages": received})

    class Channel:
        # Stubs of current grpcio-tools pass keywords sonora's channel does not take.
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            call = getattr(self.inner, name)
            return lambda path, request_serializer=None, response_deserializer=None, **_: call(
                path, request_serializer, response_deserializer)

    with sonora.client.insecure_web_channel(args.url) as web:
        stub = pb_grpc.CartStub(Channel(web))
        reply = stub.GetCart(pb.CartRequest(cart_id="c-1"))
        assert reply.cart_id == "c-1"
        record("/shop.Cart/GetCart", "grpc-web", 0, None, 1, 1)
        try:
            stub.GetCart(pb.CartRequest(cart_id="c-404"))
            raise SystemExit("c-404 should fail")
        except grpc.RpcError as e:
            # The messages before the error are not visible to the channel: not recorded.
            record("/shop.Cart/GetCart", "grpc-web", e.code().value[0], e.details(), 1, None)
        items = list(stub.ListItems(pb.ListRequest(cart_id="c-1", count=3)))
        assert len(items) == 3
        record("/shop.Cart/ListItems", "grpc-web", 0, None, 1, 3)

    # Text mode: base64 of the frames, both ways.
    message = pb.CartRequest(cart_id="c-2").SerializeToString()
    body = base64.b64encode(struct.pack(">BI", 0, len(message)) + message)
    r = requests.post(args.url + "/shop.Cart/GetCart", data=body,
                      headers={"content-type": "application/grpc-web-text",
                               "accept": "application/grpc-web-text", "x-grpc-web": "1"})
    if r.headers.get("content-type", "").startswith("application/grpc-web-text"):
        # Several base64 pieces, each padded: decoded four characters at a time.
        text = r.content.strip()
        raw = b"".join(base64.b64decode(text[i:i + 4]) for i in range(0, len(text), 4))
    else:
        raise SystemExit(f"text mode answered {r.status_code} {r.headers} {r.content[:200]!r}")
    frames, trailers, pos = 0, b"", 0
    while pos + 5 <= len(raw):
        flags, length = struct.unpack(">BI", raw[pos:pos + 5])
        if flags & 0x80:
            trailers = raw[pos + 5:pos + 5 + length]
        else:
            frames += 1
        pos += 5 + length
    status = int(dict(l.split(":", 1) for l in trailers.decode().strip().split("\r\n"))
                 ["grpc-status"])
    record("/shop.Cart/GetCart", "grpc-web-text", status, None, 1, frames)
    with open(args.out, "w") as f:
        json.dump({"calls": calls}, f, indent=1)
        f.write("\n")
    for c in calls:
        print(c, file=sys.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["client"])
    ap.add_argument("--gen", required=True)
    ap.add_argument("--url")
    ap.add_argument("--out")
    run_client(ap.parse_args())
