"""The psycopg 3 part of pcaps/pgsql/gen-pgsql.sh: every call it makes, logged with what came
back, to pgsql.expected.json. SSL "prefer" (the server has none: answered N), a failed login,
parameterised queries (extended protocol, unnamed statements), server-side prepared statements
(named), an error with its SQLSTATE, several statements in one simple query, COPY out, and a
pipeline (several Syncs before the first answer)."""

import json
import sys

import psycopg

server, out = sys.argv[1], sys.argv[2]
calls = []


def port(conn):
    return conn.pgconn.socket and __import__("socket").fromfd(
        conn.pgconn.socket, __import__("socket").AF_INET, __import__("socket").SOCK_STREAM
    ).getsockname()[1]


def log(conn_port, kind, sql, **facts):
    calls.append(dict(client_port=conn_port, kind=kind, sql=sql, **facts))


try:
    psycopg.connect(host=server, user="alice", password="wrong", dbname="postgres",
                    sslmode="disable").close()
    raise SystemExit("the wrong password logged in")
except psycopg.OperationalError as e:
    log(None, "login-failed", None, user="alice", sqlstate="28P01", message=str(e))

with psycopg.connect(host=server, user="postgres", sslmode="prefer") as c:
    p = port(c)
    log(p, "login", None, user="postgres", database="postgres", ssl=c.pgconn.ssl_in_use)
    cur = c.cursor()
    for i in range(1, 4):
        sql = "select id, name from items where id = %s"
        cur.execute(sql, (i,))
        log(p, "execute", sql.replace("%s", "$1"), rows=len(cur.fetchall()))
    for i in (1, 2):
        sql = "select name from items where id = %s"
        cur.execute(sql, (i,), prepare=True)
        log(p, "execute", sql.replace("%s", "$1"), rows=len(cur.fetchall()), prepared=True)
    try:
        cur.execute("select * from no_such_table")
    except psycopg.errors.UndefinedTable:
        log(p, "query", "select * from no_such_table", sqlstate="42P01")
        c.rollback()
    cur.execute("select 1; select 2")
    log(p, "query", "select 1; select 2", rows=2)
    with cur.copy("copy items to stdout") as copy:
        copied = sum(1 for _ in copy.rows())
    log(p, "query", "copy items to stdout", affected=copied)
    c.commit()
    with c.pipeline():
        for i in (1, 2, 3):
            cur.execute("select name from items where id = %s", (i,))
    log(p, "pipeline", "select name from items where id = $1", count=3)
    c.commit()

with open(out, "w") as f:
    json.dump({"calls": calls}, f, indent=1)
    f.write("\n")
for call in calls:
    print(call, file=sys.stderr)
