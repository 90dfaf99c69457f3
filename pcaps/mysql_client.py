#!/usr/bin/env python3
"""MariaDB/MySQL test client for pcaps/gen-mysql.sh.

    python3 mysql_client.py run --server 10.200.2.2 --user wirespan --password ... --out mysql.expected.json
    python3 mysql_client.py verify --pcap mysql/client-veth.pcap --expected mysql/mysql.expected.json

Runs inside the client network namespace.  Every command that goes on the
wire is recorded, in order, per connection, with the server's answer:
including the ones the libraries send by themselves (PyMySQL's
"SET NAMES", Connector/Python's "SET NAMES ... COLLATE", "SET
@@session.autocommit", COM_STMT_RESET before every execute, COM_STMT_CLOSE
when a prepared cursor moves to another statement).  Those carry
"implicit": true.

How the record is made (no packet parsing, the libraries' own results):
  PyMySQL                  Connection._execute_command is wrapped to log each
                           command; the first packet read after it
                           (Connection._read_packet) tells OK (affected rows
                           from the OK packet), ERR (code, message) or a
                           result set, whose row count is cursor.rowcount.
                           COM_QUIT (sent by close() directly) is logged by
                           this script.
  mysql-connector-python   (pure Python, use_pure) every cmd_* method is
                           wrapped; OK/ERR/result set from what it returns or
                           raises; returned rows are counted in get_rows().

Connections (client port from the socket, getsockname()):
  0  PyMySQL 3306, text protocol: DDL, DML, selects, errors, ping, init_db,
     a multi-segment query and a multi-segment result set
  1  Connector/Python 3306: server-side prepared statements
  2  PyMySQL 3307 (the server's extra_port): port independence
  3  Connector/Python 3306 with compress=True: the compressed protocol

The script exits non-zero if an answer differs from what it expects.
"""
import argparse
import importlib.metadata
import json
import os
import re
import sys
from decimal import Decimal

import pymysql
import pymysql.connections
import pymysql.protocol
from pymysql.constants import COMMAND as PC
import mysql.connector
from mysql.connector import errors as merrors
from mysql.connector.connection import MySQLConnection

DB = "shop"
DB2 = "audit"
TIMEOUT = 10

PY_COMMANDS = {PC.COM_QUERY: "COM_QUERY", PC.COM_INIT_DB: "COM_INIT_DB",
               PC.COM_PING: "COM_PING", PC.COM_QUIT: "COM_QUIT"}

BULK_ROWS = 120         # INSERT with 120 rows: a ~4.5 kB query, 4 segments
WIDE_ROWS = 200         # 200 rows of ~190 bytes: a ~40 kB result set


def operation_of(sql):
    """First SQL keyword, upper-cased, after leading blanks and comments."""
    s = sql
    for _ in range(100):
        s = s.lstrip()
        if s.startswith("/*"):
            end = s.find("*/")
            s = s[end + 2:] if end >= 0 else ""
        elif s.startswith("--") or s.startswith("#"):
            nl = s.find("\n")
            s = s[nl + 1:] if nl >= 0 else ""
        else:
            break
    m = re.match(r"[A-Za-z_]+", s)
    return m.group(0).upper() if m else None


def new_entry(command, sql=None, statement_id=None, schema=None, implicit=False,
              params=None):
    if isinstance(sql, (bytes, bytearray)):
        sql = sql.decode("utf-8")
    if sql is not None:
        op = operation_of(sql)
    else:
        op = command
    return {"command": command, "sql": sql, "statement_id": statement_id,
            "schema": schema, "operation": op, "params": params,
            "error_code": 0, "error_message": None,
            "rows": None, "rows_kind": None, "response": None,
            "implicit": implicit}


class Recorder:
    """Commands of one connection.  `explicit` is set while this script
    itself calls the library; what is logged outside (during connect) is
    implicit, and so is what a library call sends besides the command it is
    for: COM_STMT_RESET (Connector/Python sends one before every execute), a
    COM_STMT_CLOSE that execute() sends because the cursor moves to another
    statement, the COM_PING of conn.cursor().  `call` is the name of the
    Connector/Python method this script is calling."""

    def __init__(self):
        self.commands = []
        self.explicit = False
        self.call = None

    # Connector/Python calls of this script -> the commands they are for;
    # anything else sent during such a call is implicit (e.g. the COM_PING
    # that conn.cursor() sends through is_connected())
    CALLS = {"ping": {"COM_PING"},
             "execute": {"COM_QUERY", "COM_STMT_PREPARE", "COM_STMT_EXECUTE"},
             "close": {"COM_STMT_CLOSE", "COM_QUIT"},
             "setattr": {"COM_INIT_DB"}}

    def add(self, e):
        if not self.explicit:
            e["implicit"] = True
        elif self.call is None:          # PyMySQL: one command per call
            e["implicit"] = False
        else:
            e["implicit"] = e["command"] not in self.CALLS.get(self.call, ())
        self.commands.append(e)
        return e


# --------------------------------------------------------------------------
# PyMySQL
# --------------------------------------------------------------------------
class PyConn(pymysql.connections.Connection):
    def __init__(self, *args, recorder, **kwargs):
        self._ws = recorder
        self._ws_pending = None
        super().__init__(*args, **kwargs)

    def _execute_command(self, command, sql):
        name = PY_COMMANDS.get(command)
        if name is None:
            raise RuntimeError("unexpected PyMySQL command %r" % command)
        text = sql.decode() if isinstance(sql, bytes) else sql
        e = new_entry(name, sql=text if command == PC.COM_QUERY else None,
                      schema=text if command == PC.COM_INIT_DB else None)
        self._ws_pending = self._ws.add(e)
        return super()._execute_command(command, sql)

    def _read_packet(self, packet_type=pymysql.protocol.MysqlPacket):
        e, self._ws_pending = self._ws_pending, None
        try:
            pkt = super()._read_packet(packet_type)
        except pymysql.err.MySQLError as ex:
            if e is not None:
                e.update(response="ERR", error_code=ex.args[0], error_message=ex.args[1])
            raise
        if e is not None:
            # classify on a copy: the wrappers move the packet's read position
            copy = pymysql.protocol.MysqlPacket(pkt.get_all_data(), self.encoding)
            if copy.is_ok_packet():
                ok = pymysql.protocol.OKPacketWrapper(copy)
                e.update(response="OK", rows=ok.affected_rows, rows_kind="affected")
            elif copy.is_eof_packet():
                e.update(response="EOF")
            else:
                e.update(response="RESULTSET", rows=None, rows_kind="returned")
        return pkt


# --------------------------------------------------------------------------
# mysql-connector-python (pure Python implementation)
# --------------------------------------------------------------------------
class MCConn(MySQLConnection):
    def __init__(self, *args, recorder, **kwargs):
        self._ws = recorder
        self._ws_rs = None
        self._ws_stmts = {}
        super().__init__(*args, **kwargs)

    def _ws_call(self, e, fn, *args, **kwargs):
        self._ws.add(e)
        self._ws_rs = None
        try:
            res = fn(*args, **kwargs)
        except merrors.Error as ex:
            if ex.errno and e["response"] is None:
                e.update(response="ERR", error_code=ex.errno, error_message=ex.msg)
            raise
        return res

    @staticmethod
    def _ok(e, res):
        e.update(response="OK", rows=res.get("affected_rows", 0), rows_kind="affected")

    def _result(self, e, res):
        if isinstance(res, tuple) or (isinstance(res, dict) and "columns" in res):
            # a result set: column count, definitions (+ EOF); rows in get_rows
            e.update(response="RESULTSET", rows=0, rows_kind="returned")
            self._ws_rs = e
        elif isinstance(res, dict) and "affected_rows" in res:
            self._ok(e, res)
        else:
            e.update(response="EOF")

    def cmd_query(self, query, *args, **kwargs):
        e = new_entry("COM_QUERY", sql=query)
        res = self._ws_call(e, super().cmd_query, query, *args, **kwargs)
        self._result(e, res)
        return res

    def cmd_init_db(self, database, *args, **kwargs):
        e = new_entry("COM_INIT_DB", schema=database)
        res = self._ws_call(e, super().cmd_init_db, database, *args, **kwargs)
        self._ok(e, res)
        return res

    def cmd_ping(self, *args, **kwargs):
        e = new_entry("COM_PING")
        res = self._ws_call(e, super().cmd_ping, *args, **kwargs)
        self._ok(e, res)
        return res

    def cmd_stmt_prepare(self, statement, *args, **kwargs):
        e = new_entry("COM_STMT_PREPARE", sql=statement)
        res = self._ws_call(e, super().cmd_stmt_prepare, statement, *args, **kwargs)
        e.update(response="OK", statement_id=res["statement_id"])
        self._ws_stmts[res["statement_id"]] = e["sql"]
        return res

    def cmd_stmt_reset(self, statement_id, *args, **kwargs):
        e = new_entry("COM_STMT_RESET", statement_id=statement_id)
        e["sql"] = self._ws_stmts.get(statement_id)
        e["operation"] = "COM_STMT_RESET"
        res = self._ws_call(e, super().cmd_stmt_reset, statement_id, *args, **kwargs)
        e.update(response="OK", rows=0, rows_kind="affected")
        return res

    def cmd_stmt_execute(self, statement_id, data=(), *args, **kwargs):
        sql = self._ws_stmts.get(statement_id)
        e = new_entry("COM_STMT_EXECUTE", sql=sql, statement_id=statement_id,
                      params=[str(p) if isinstance(p, Decimal) else p for p in data])
        res = self._ws_call(e, super().cmd_stmt_execute, statement_id, data, *args, **kwargs)
        self._result(e, res)
        return res

    def cmd_stmt_close(self, statement_id, *args, **kwargs):
        e = new_entry("COM_STMT_CLOSE", statement_id=statement_id)
        e["sql"] = self._ws_stmts.get(statement_id)
        e["operation"] = "COM_STMT_CLOSE"
        res = self._ws_call(e, super().cmd_stmt_close, statement_id, *args, **kwargs)
        e.update(response="none")
        return res

    def cmd_quit(self, *args, **kwargs):
        e = new_entry("COM_QUIT")
        res = self._ws_call(e, super().cmd_quit, *args, **kwargs)
        e.update(response="none")
        return res

    def get_rows(self, *args, **kwargs):
        rows, eof = super().get_rows(*args, **kwargs)
        if self._ws_rs is not None:
            self._ws_rs["rows"] += len(rows)
        return rows, eof

    # commands this client must not send unseen
    def cmd_stmt_fetch(self, *a, **k):
        raise RuntimeError("unexpected COM_STMT_FETCH")

    def cmd_stmt_send_long_data(self, *a, **k):
        raise RuntimeError("unexpected COM_STMT_SEND_LONG_DATA")

    def cmd_reset_connection(self, *a, **k):
        raise RuntimeError("unexpected COM_RESET_CONNECTION")

    def cmd_change_user(self, *a, **k):
        raise RuntimeError("unexpected COM_CHANGE_USER")


# --------------------------------------------------------------------------
# the session
# --------------------------------------------------------------------------
class Session:
    def __init__(self, args):
        self.args = args
        self.connections = []
        self.failures = []

    def expect(self, what, got, want):
        if got != want:
            self.failures.append("%s: got %r want %r" % (what, got, want))

    def _conn_record(self, library, sock, port, conn_id, version, database, compressed, rec):
        local = sock.getsockname()
        c = {"index": len(self.connections), "library": library,
             "client_address": local[0], "client_port": local[1],
             "server_address": self.args.server, "server_port": port,
             "user": self.args.user, "database": database,
             "server_version": version, "connection_id": conn_id,
             "compressed": compressed, "commands": rec.commands}
        self.connections.append(c)
        return c

    # -- PyMySQL ---------------------------------------------------------------
    def pymysql_conn(self, port, database):
        rec = Recorder()
        conn = PyConn(host=self.args.server, port=port, user=self.args.user,
                      password=self.args.password, database=database,
                      charset="utf8mb4", autocommit=True, connect_timeout=TIMEOUT,
                      read_timeout=TIMEOUT, write_timeout=TIMEOUT, recorder=rec)
        c = self._conn_record("PyMySQL %s" % importlib.metadata.version("PyMySQL"), conn._sock, port,
                              conn.server_thread_id[0], conn.server_version, database,
                              False, rec)
        return conn, rec, c

    def q(self, conn, rec, sql, want_rows=None, want_err=None):
        """One COM_QUERY through a PyMySQL cursor."""
        rec.explicit = True
        cur = conn.cursor()
        try:
            cur.execute(sql)
            e = rec.commands[-1]
            if e["response"] == "RESULTSET":
                e["rows"] = len(cur.fetchall())
            err = None
        except pymysql.err.MySQLError as ex:
            err = ex.args[0]
        finally:
            cur.close()
            rec.explicit = False
        e = rec.commands[-1]
        self.expect("query %r error" % sql[:40], err, want_err)
        if want_rows is not None:
            self.expect("query %r rows" % sql[:40], e["rows"], want_rows)
        return e

    def py_call(self, rec, fn, *args):
        rec.explicit = True
        try:
            return fn(*args)
        finally:
            rec.explicit = False

    def py_quit(self, conn, rec):
        rec.explicit = True
        e = new_entry("COM_QUIT")
        e["response"] = "none"
        rec.add(e)
        rec.explicit = False
        conn.close()

    # -- Connector/Python -------------------------------------------------------
    def connector_conn(self, port, database, compress=False):
        rec = Recorder()
        conn = MCConn(host=self.args.server, port=port, user=self.args.user,
                      password=self.args.password, database=database,
                      ssl_disabled=True, compress=compress, autocommit=True,
                      connection_timeout=TIMEOUT, recorder=rec)
        hs = conn._handshake or {}
        version = hs.get("server_version_original")
        if isinstance(version, bytes):
            version = version.decode()
        c = self._conn_record("mysql-connector-python %s (pure)"
                              % importlib.metadata.version("mysql-connector-python"),
                              conn._socket.sock, port, conn.connection_id, version,
                              database, compress, rec)
        return conn, rec, c

    def mc(self, rec, fn, *args, want_err=None, **kwargs):
        rec.explicit = True
        rec.call = getattr(fn, "__name__", None)
        err = None
        try:
            return fn(*args, **kwargs)
        except merrors.Error as ex:
            err = ex.errno
        finally:
            rec.explicit = False
            rec.call = None
            self.expect("connector %s error" % getattr(fn, "__name__", fn), err, want_err)

    def run(self):
        a = self.args
        P, P2 = a.port, a.port2

        # ---- connection 0: PyMySQL, text protocol -------------------------------
        conn, rec, _ = self.pymysql_conn(P, DB)
        self.q(conn, rec, "CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, "
               "sku VARCHAR(32) NOT NULL, qty INT NOT NULL, price DECIMAL(10,2) NOT NULL)")
        self.q(conn, rec, "INSERT INTO items (sku, qty, price) VALUES ('A-1', 3, 9.99), "
               "('B-2', 1, 19.50), ('C-3', 7, 2.25), ('D-4', 0, 100.00)", want_rows=4)
        self.q(conn, rec, "SELECT id, sku, qty, price FROM items ORDER BY id", want_rows=4)
        self.q(conn, rec, "SELECT id, sku FROM items WHERE qty > 1000", want_rows=0)
        self.q(conn, rec, "UPDATE items SET qty = qty + 1 WHERE qty < 5", want_rows=3)
        self.q(conn, rec, "DELETE FROM items WHERE sku = 'D-4'", want_rows=1)
        self.q(conn, rec, "/* x */ SELECT 1", want_rows=1)
        self.q(conn, rec, "SELECT * FROM no_such_table", want_err=1146)
        self.q(conn, rec, "SELEC 1", want_err=1064)
        self.py_call(rec, conn.ping)
        self.py_call(rec, conn.select_db, DB2)
        self.q(conn, rec, "SELECT DATABASE()", want_rows=1)
        self.q(conn, rec, "USE shop")
        bulk = ", ".join("('bulk-%03d', %d, %d.%02d)" % (i, i, i, i % 100)
                         for i in range(BULK_ROWS))
        self.q(conn, rec, "INSERT INTO items (sku, qty, price) VALUES " + bulk,
               want_rows=BULK_ROWS)
        self.q(conn, rec, "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s "
               "WHERE n < %d) SELECT n, REPEAT('wirespan-row-data-', 10) AS pad FROM s"
               % WIDE_ROWS, want_rows=WIDE_ROWS)
        self.q(conn, rec, "DELETE FROM items WHERE sku LIKE 'bulk-%'", want_rows=BULK_ROWS)
        self.q(conn, rec, "SELECT COUNT(*) FROM items", want_rows=1)
        self.py_quit(conn, rec)

        # ---- connection 1: Connector/Python, server-side prepared statements --------
        conn, rec, _ = self.connector_conn(P, DB)
        self.mc(rec, conn.ping)
        ins = "INSERT INTO items (sku, qty, price) VALUES (?, ?, ?)"
        sel = "SELECT id, sku, qty, price FROM items WHERE qty >= ? ORDER BY id"
        upd = "UPDATE items SET qty = ? WHERE sku = ?"
        cur = self.mc(rec, conn.cursor, prepared=True)
        for p in (("P-1", 5, Decimal("1.50")), ("P-2", 6, Decimal("2.50")),
                  ("P-3", 7, Decimal("3.50"))):
            self.mc(rec, cur.execute, ins, p)
            self.expect("prepared insert rowcount", cur.rowcount, 1)
        self.mc(rec, cur.execute, sel, (5,))      # closes the INSERT statement first
        rows = self.mc(rec, cur.fetchall)
        self.expect("prepared select rows", len(rows), 4)   # C-3 (8), P-1, P-2, P-3
        self.mc(rec, cur.execute, sel, (1000,))
        self.expect("prepared select 0 rows", len(self.mc(rec, cur.fetchall)), 0)
        self.mc(rec, cur.close)
        cur2 = self.mc(rec, conn.cursor, prepared=True)
        self.mc(rec, cur2.execute, upd, (42, "P-2"))
        self.expect("prepared update rowcount", cur2.rowcount, 1)
        self.mc(rec, cur2.close)
        cur3 = self.mc(rec, conn.cursor, prepared=True)
        self.mc(rec, cur3.execute, "SELECT * FROM missing_table WHERE id = ?", (1,),
                want_err=1146)
        self.mc(rec, cur3.close)
        self.mc(rec, setattr, conn, "database", DB2)      # COM_INIT_DB
        tcur = self.mc(rec, conn.cursor)
        self.mc(rec, tcur.execute, "SELECT DATABASE()")
        self.expect("SELECT DATABASE()", self.mc(rec, tcur.fetchall), [(DB2,)])
        self.mc(rec, tcur.close)
        self.mc(rec, conn.close)

        # ---- connection 2: PyMySQL on the second port -------------------------------
        conn, rec, _ = self.pymysql_conn(P2, DB)
        self.q(conn, rec, "SELECT sku, qty FROM items ORDER BY id", want_rows=6)
        self.q(conn, rec, "INSERT INTO items (sku, qty, price) VALUES ('E-5', 2, 5.00)",
               want_rows=1)
        self.q(conn, rec, "SELECT * FROM no_such_table", want_err=1146)
        self.py_quit(conn, rec)

        # ---- connection 3: Connector/Python, compressed protocol ---------------------
        conn, rec, _ = self.connector_conn(P, DB, compress=True)
        tcur = self.mc(rec, conn.cursor)
        self.mc(rec, tcur.execute, "SELECT COUNT(*) FROM items")
        self.expect("compressed count", self.mc(rec, tcur.fetchall), [(7,)])
        self.mc(rec, tcur.execute, "SELECT n, REPEAT('compressible ', 20) FROM "
                "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s "
                "WHERE n < 50) SELECT n FROM s) t")
        self.expect("compressed rows", len(self.mc(rec, tcur.fetchall)), 50)
        self.mc(rec, tcur.close)
        self.mc(rec, conn.close)

    def write(self):
        for c in self.connections:
            for i, e in enumerate(c["commands"]):
                e["index"] = i
                if e["response"] is None:
                    self.failures.append("connection %d command %d %s: no response recorded"
                                         % (c["index"], i, e["command"]))
        with open(self.args.out, "w") as f:
            json.dump({"connections": self.connections}, f, indent=2, sort_keys=True)
            f.write("\n")
        for c in self.connections:
            print("connection %d %-40s %s:%d -> %s:%d  %d commands" % (
                c["index"], c["library"], c["client_address"], c["client_port"],
                c["server_address"], c["server_port"], len(c["commands"])))
            for e in c["commands"]:
                print("   %-2d %-17s %-9s %-4s rows=%-4s %-8s %s%s" % (
                    e["index"], e["command"], e["response"], e["error_code"] or "",
                    e["rows"], e["rows_kind"] or "", (e["sql"] or e["schema"] or "")[:60],
                    "  (implicit)" if e["implicit"] else ""))


# --------------------------------------------------------------------------
# verify: read a capture back with tshark (PDML) and compare
# --------------------------------------------------------------------------
TSHARK_COMMANDS = {1: "COM_QUIT", 2: "COM_INIT_DB", 3: "COM_QUERY", 14: "COM_PING",
                   22: "COM_STMT_PREPARE", 23: "COM_STMT_EXECUTE",
                   25: "COM_STMT_CLOSE", 26: "COM_STMT_RESET"}


def read_capture(pcap, ports):
    """Per TCP connection: greeting/login facts and the commands with the
    server's answers, as tshark's MySQL dissector sees them."""
    import subprocess
    import xml.etree.ElementTree as ET
    dec = []
    for p in ports:
        if p != 3306:
            dec += ["-d", "tcp.port==%d,mysql" % p]
    xml = subprocess.run(["tshark", "-r", pcap] + dec + ["-Y", "mysql", "-T", "pdml"],
                         check=True, capture_output=True).stdout
    conns = {}
    for pkt in ET.fromstring(xml):
        tcp = {}
        mysqls = []
        uncompressed = []
        for proto in pkt:
            if proto.get("name") == "tcp":
                for f in proto.iter("field"):
                    if f.get("name") in ("tcp.stream", "tcp.srcport", "tcp.dstport"):
                        tcp.setdefault(f.get("name"), int(f.get("show")))
            for f in proto.iter("field"):
                if f.get("name") == "mysql.compressed_packet_length_uncompressed":
                    uncompressed.append(int(f.get("show")))
            if proto.get("name") == "mysql":
                fields = {}
                for f in proto.iter("field"):
                    fields.setdefault(f.get("name"), f.get("show"))
                kind = proto.get("showname").replace("MySQL Protocol", "").strip(" -")
                mysqls.append((kind, fields))
        to_server = tcp["tcp.dstport"] in ports
        c = conns.setdefault(tcp["tcp.stream"], {
            "client_port": tcp["tcp.srcport"] if to_server else tcp["tcp.dstport"],
            "server_port": tcp["tcp.dstport"] if to_server else tcp["tcp.srcport"],
            "server_version": None, "user": None, "database": None,
            "connection_id": None, "compressed_payloads": 0, "commands": []})
        if any(u > 0 for u in uncompressed):
            # zlib payload: tshark 4.0 does not inflate it
            c["compressed_payloads"] += 1
            if to_server:
                c["commands"].append({"command": "(compressed)"})
            elif c["commands"]:
                c["commands"][-1]["response"] = "(compressed)"
            continue
        for kind, f in mysqls:
            if "mysql.version" in f and c["server_version"] is None:
                c["server_version"] = f["mysql.version"]
                c["connection_id"] = int(f["mysql.thread_id"])
            elif "mysql.user" in f and to_server and c["user"] is None:
                c["user"] = f["mysql.user"]
                c["database"] = f.get("mysql.schema")
            elif to_server and "mysql.command" in f:
                code = int(f["mysql.command"])
                c["commands"].append({
                    "command": TSHARK_COMMANDS.get(code, "unknown %d" % code),
                    "sql": f.get("mysql.query"),
                    "schema": f.get("mysql.schema") if code == 2 else None,
                    "statement_id": int(f["mysql.stmt_id"]) if "mysql.stmt_id" in f else None,
                    "response": None, "rows": None, "error_code": 0,
                    "error_message": None})
            elif not to_server and c["commands"]:
                cmd = c["commands"][-1]
                if cmd.get("response") is None:
                    if kind == "response OK":
                        cmd.update(response="OK", rows=int(f["mysql.affected_rows"]))
                    elif kind == "response ERROR":
                        cmd.update(response="ERR", error_code=int(f["mysql.error_code"]),
                                   error_message=f.get("mysql.error.message"))
                    elif kind == "column count":
                        cmd.update(response="RESULTSET", rows=0)
                    elif kind == "response to PREPARE":
                        cmd.update(response="OK", statement_id=int(f["mysql.stmt_id"]))
                    elif kind == "response EOF":
                        cmd.update(response="EOF")
                    else:
                        cmd.update(response="unexpected " + kind)
                elif kind == "row packet" and cmd["response"] == "RESULTSET":
                    cmd["rows"] += 1
    return [conns[k] for k in sorted(conns)]


def run_verify(args):
    ports = [int(p) for p in args.ports.split(",")]
    exp = json.load(open(args.expected))["connections"]
    got = {c["client_port"]: c for c in read_capture(args.pcap, ports)}
    bad = []
    checked = 0
    skipped = []
    if len(got) != len(exp):
        bad.append("%d MySQL connections in capture, %d expected" % (len(got), len(exp)))
    for e in exp:
        g = got.get(e["client_port"])
        if g is None:
            bad.append("connection %d: client port %d not in capture" % (e["index"], e["client_port"]))
            continue
        for k in ("server_port", "server_version", "user", "database", "connection_id"):
            if g[k] != e[k]:
                bad.append("connection %d %s: capture %r expected %r" % (e["index"], k, g[k], e[k]))
        if len(g["commands"]) != len(e["commands"]):
            bad.append("connection %d: %d commands in capture, %d expected" % (
                e["index"], len(g["commands"]), len(e["commands"])))
        if e["compressed"] and not g["compressed_payloads"]:
            bad.append("connection %d: no zlib-compressed payload seen" % e["index"])
        for ec, gc in zip(e["commands"], g["commands"]):
            where = "connection %d command %d" % (e["index"], ec["index"])
            if gc["command"] == "(compressed)":
                skipped.append("conn %d cmd %d (zlib request)" % (e["index"], ec["index"]))
                continue            # request not readable by tshark
            keys = ["command", "statement_id"]
            keys += ["sql"] if ec["command"] in ("COM_QUERY", "COM_STMT_PREPARE") else []
            keys += ["schema"] if ec["command"] == "COM_INIT_DB" else []
            if gc.get("response") in ("(compressed)",) or (
                    e["compressed"] and gc.get("response") == "RESULTSET"):
                skipped.append("conn %d cmd %d response (%s)" % (
                    e["index"], ec["index"], "zlib" if gc.get("response") == "(compressed)"
                    else "result set in compressed framing"))
            else:
                keys += ["response", "error_code", "error_message"]
                if ec["response"] in ("OK", "RESULTSET") and ec["rows"] is not None:
                    keys.append("rows")
            if ec["response"] == "none":
                keys = [k for k in keys if k not in ("response", "error_code", "error_message")]
            for k in keys:
                if gc.get(k) != ec[k]:
                    bad.append("%s %s: capture %r expected %r" % (where, k, gc.get(k), ec[k]))
            checked += 1
    for m in bad:
        print("verify %s: MISMATCH %s" % (args.pcap, m), file=sys.stderr)
    if bad:
        sys.exit(1)
    print("ok: %s: %d connections, %d commands match (command, SQL, statement id, "
          "response, error, rows); not readable by tshark, not compared: %s" % (
              os.path.basename(args.pcap), len(exp), checked, "; ".join(skipped) or "-"))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="make the connections, write the expected file")
    r.add_argument("--server", required=True)
    r.add_argument("--port", type=int, default=3306)
    r.add_argument("--port2", type=int, default=3307)
    r.add_argument("--user", required=True)
    r.add_argument("--password", required=True)
    r.add_argument("--out", required=True)
    v = sub.add_parser("verify", help="compare a capture with the expected file (tshark)")
    v.add_argument("--pcap", required=True)
    v.add_argument("--expected", required=True)
    v.add_argument("--ports", default="3306,3307")
    args = ap.parse_args()
    if args.cmd == "verify":
        run_verify(args)
        return
    s = Session(args)
    try:
        s.run()
    finally:
        s.write()
    if s.failures:
        for m in s.failures:
            print("mysql client: UNEXPECTED " + m, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
