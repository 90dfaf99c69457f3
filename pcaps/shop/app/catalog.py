#!/usr/bin/env python3
"""catalog: Flask (FlaskInstrumentor), GET /items?user=N reads MariaDB with
PyMySQL instrumented by PyMySQLInstrumentor (a DB CLIENT span per query).
One DB connection, opened by the first request and kept.

    python3 catalog.py --bind 10.244.2.20 --db 10.244.2.30 --user U --password P \
        --collector http://10.244.2.1:38086/api/v1/otel/trace --pod catalog --node node2
"""
import argparse
import os
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
    a = ap.parse_args()
    records = otel_common.Records(a.records)

    otel_common.setup("catalog", a.pod, a.bind, a.node, a.collector)
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

    app.run(host=a.bind, port=a.port, threaded=True, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
