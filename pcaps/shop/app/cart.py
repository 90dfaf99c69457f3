#!/usr/bin/env python3
"""cart: gRPC server (GrpcInstrumentorServer), GetCart reads MariaDB with
PyMySQL, which is NOT instrumented: the DB call has no span of its own.
A new DB connection per call.

    python3 cart.py --gen DIR --bind 10.244.2.10 --db 10.244.2.30 --user U --password P \
        --collector http://10.244.2.1:38086/api/v1/otel/trace --pod cart --node node2
"""
import argparse
import os
import sys
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import otel_common  # noqa: E402

CART_SQL = "SELECT sku, qty FROM cart_items WHERE user_id = %s ORDER BY sku"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=50051)
    ap.add_argument("--db", required=True)
    ap.add_argument("--db-port", type=int, default=3306)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--collector", required=True)
    ap.add_argument("--pod", default="cart")
    ap.add_argument("--node", default="node2")
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--workers", type=int, default=4, help="calls served at once")
    ap.add_argument("--records", help="append a JSON line per call served to this file")
    a = ap.parse_args()
    records = otel_common.Records(a.records)

    otel_common.setup("cart", a.pod, a.bind, a.node, a.collector)
    otel_common.install_exit_handlers(a.max_seconds)

    from opentelemetry.instrumentation.grpc import GrpcInstrumentorServer
    GrpcInstrumentorServer().instrument()   # before grpc.server()

    import grpc
    import pymysql   # deliberately not instrumented

    pb, pb_grpc = otel_common.load_gen(a.gen)

    class Cart(pb_grpc.CartServicer):
        def GetCart(self, request, context):
            conn = pymysql.connect(host=a.db, port=a.db_port, user=a.user,
                                   password=a.password, database="shop",
                                   autocommit=True, connect_timeout=5,
                                   read_timeout=10, write_timeout=10)
            records.write(user=request.user_id, db_port=conn._sock.getsockname()[1],
                          opened_connection=True)
            try:
                cur = conn.cursor()
                cur.execute(CART_SQL, (request.user_id,))
                rows = cur.fetchall()
                cur.close()
            finally:
                conn.close()
            return pb.CartReply(user_id=request.user_id,
                                lines=[pb.CartLine(sku=s, qty=q) for s, q in rows])

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=a.workers))
    pb_grpc.add_CartServicer_to_server(Cart(), server)
    server.add_insecure_port("%s:%d" % (a.bind, a.port))
    server.start()
    otel_common.on_exit(lambda: server.stop(1).wait(2))
    print("cart listening on %s:%d" % (a.bind, a.port), flush=True)
    server.wait_for_termination(timeout=a.max_seconds)
    otel_common.flush_and_exit(0)


if __name__ == "__main__":
    main()
