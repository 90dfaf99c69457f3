"""MySQL commands of pcaps/mysql-odd, from real clients, one connection each; records what was
sent and what came back (mysql-odd.expected.json):

  change-user       mysql-connector-python: log in as alice, COM_CHANGE_USER to bob (MariaDB
                    answers with an auth switch request, the client answers it, then OK),
                    then a query as bob
  change-user-bad   the same with bob's wrong password: the server's ERR
  field-list        PyMySQL's command layer sends COM_FIELD_LIST for table `people`
  query-attributes  mysql-connector-python against a MySQL 8 stand-in (mysql8_stub.py) that
                    negotiates CLIENT_QUERY_ATTRIBUTES: an UPDATE with two attributes,
                    `traceparent` and an integer, and a SELECT with none
"""

import json
import sys

import mysql.connector
import pymysql
from pymysql.constants import COMMAND

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def port_of(sock):
    return sock.getsockname()[1]


def change_user(server, port, password):
    cnx = mysql.connector.connect(host=server, port=port, user="alice", password="pw-alice",
                                  database="shop", use_pure=True)
    client_port = port_of(cnx._socket.sock)
    result = {"client_port": client_port, "from_user": "alice", "to_user": "bob",
              "to_database": "audit"}
    try:
        cnx.cmd_change_user(username="bob", password=password, database="audit")
        cur = cnx.cursor()
        cur.execute("SELECT CURRENT_USER(), DATABASE()")
        result["after"] = list(cur.fetchone())
        cur.close()
        result["error"] = None
        cnx.close()
    except mysql.connector.Error as e:
        result["error"] = e.errno
    return result


def field_list(server, port):
    conn = pymysql.connect(host=server, port=port, user="alice", password="pw-alice",
                           database="shop")
    client_port = port_of(conn._sock)
    conn._execute_command(COMMAND.COM_FIELD_LIST, "people\0")
    columns = 0
    while True:
        pkt = conn._read_packet()
        if pkt.is_eof_packet():
            break
        columns += 1
    conn.close()
    return {"client_port": client_port, "table": "people", "columns": columns}


def query_attributes(server, port):
    cnx = mysql.connector.connect(host=server, port=port, user="carol", password="x",
                                  database="shop", use_pure=True)
    client_port = port_of(cnx._socket.sock)
    cur = cnx.cursor()
    cur.add_attribute("traceparent", TRACEPARENT)
    cur.add_attribute("uid", 42)
    update = "UPDATE people SET seen = 1 WHERE id = 7"
    cur.execute(update)
    cur.clear_attributes()
    select = "SELECT 1"
    cur.execute(select)
    cur.close()
    cnx.close()
    return {"client_port": client_port, "queries": [update, select], "traceparent": TRACEPARENT,
            "attributes": [2, 0]}


def main(server, mariadb_port, stub_port, out):
    cases = {
        "change-user": change_user(server, mariadb_port, "pw-bob"),
        "change-user-bad": change_user(server, mariadb_port, "wrong"),
        "field-list": field_list(server, mariadb_port),
        "query-attributes": query_attributes(server, stub_port),
    }
    for name, c in cases.items():
        print(name, c, file=sys.stderr)
    with open(out, "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
