#!/usr/bin/env python3
"""catalog: Flask (FlaskInstrumentor), GET /items?user=N reads MariaDB with
PyMySQL instrumented by PyMySQLInstrumentor (a DB CLIENT span per query).
One DB connection, opened by the first request and kept. Served by Flask's
threaded server, or with --prefork N by gunicorn with N sync worker processes
(one request at a time each, each with its own connection and its own SDK).

    python3 catalog.py --bind 10.244.2.20 --db 10.244.2.30 --user U --password P \
        --collector http://10.244.2.1:38086/api/v1/otel/trace --pod catalog --node node2
"""
import argparse
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import otel_common  # noqa: E402

ITEMS_SQL = ("SELECT i.sku, i.name, i.price_cents FROM items i "
             "JOIN cart_items c ON c.sku = i.sku WHERE c.user_id = %s ORDER BY i.sku")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=9090)
    ap.add_argument("--db", required=True)
    ap.add_argument("--db-port", type=int, default=3306)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--collector", required=True)
    ap.add_argument("--pod", default="catalog")
    ap.add_argument("--node", default="node2")
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--records", help="append a JSON line per call served to this file")
    ap.add_argument("--prefork", type=int, default=0,
                    help="serve with gunicorn and this many sync worker processes")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="and this key (PEM)")
    a = ap.parse_args()
    records = otel_common.Records(a.records)

    def setup_telemetry():
        otel_common.setup("catalog", a.pod, a.bind, a.node, a.collector)

    if not a.prefork:
        setup_telemetry()
        otel_common.install_exit_handlers(a.max_seconds)

    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.pymysql import PyMySQLInstrumentor
    PyMySQLInstrumentor().instrument()   # before pymysql.connect()

    import pymysql
    from flask import Flask, jsonify, request

    lock = threading.Lock()
    state = {"conn": None}

    def close_db():
        if state["conn"] is not None:
            state["conn"].close()      # COM_QUIT on the wire
            state["conn"] = None
    otel_common.on_exit(close_db)

    app = Flask("catalog")
    FlaskInstrumentor().instrument_app(app)

    @app.route("/items")
    def items():
        user = int(request.args.get("user", "0"))
        with lock:
            opened = state["conn"] is None
            if opened:
                state["conn"] = pymysql.connect(
                    host=a.db, port=a.db_port, user=a.user, password=a.password,
                    database="shop", autocommit=True, connect_timeout=5,
                    read_timeout=10, write_timeout=10)
            records.write(user=user, db_port=state["conn"]._sock.getsockname()[1],
                          opened_connection=opened)
            cur = state["conn"].cursor()
            try:
                cur.execute(ITEMS_SQL, (user,))
                rows = cur.fetchall()
            finally:
                cur.close()
        return jsonify(user=user, items=[{"sku": s, "name": n, "price_cents": p}
                                         for s, n, p in rows])

    if a.prefork:
        serve_prefork(app, a, setup_telemetry)
    else:
        tls = (a.tls_cert, a.tls_key) if a.tls_cert else None
        app.run(host=a.bind, port=a.port, threaded=True, debug=False, use_reloader=False,
                ssl_context=tls)


def serve_prefork(app, a, setup_telemetry):
    """gunicorn, sync workers. The SDK's export thread does not survive a fork: each worker
    sets its own up after the fork (the instrumentations' tracers find it then), and on exit
    closes its DB connection and flushes its spans. The master stops on SIGTERM, by
    gunicorn's own handler, and after --max-seconds."""
    from gunicorn.app.base import BaseApplication

    class Prefork(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", "%s:%d" % (a.bind, a.port))
            self.cfg.set("workers", a.prefork)
            self.cfg.set("worker_class", "sync")
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("timeout", 30)
            self.cfg.set("post_fork", lambda server, worker: setup_telemetry())
            self.cfg.set("worker_exit", lambda server, worker: otel_common.flush())
            if a.tls_cert:
                self.cfg.set("certfile", a.tls_cert)
                self.cfg.set("keyfile", a.tls_key)

        def load(self):
            return app

    stop = threading.Timer(a.max_seconds, lambda: os.kill(os.getpid(), signal.SIGTERM))
    stop.daemon = True
    stop.start()
    Prefork().run()


if __name__ == "__main__":
    main()
