"""A MySQL 8 stand-in for pcaps/mysql-odd: enough of the server side of the protocol for a
real client (mysql-connector-python) to log in and send queries with query attributes,
which MariaDB does not negotiate. Greets as 8.0.36 with CLIENT_QUERY_ATTRIBUTES, accepts any
mysql_native_password login, answers every command with OK. Serves one connection at a
time until killed."""

import socket
import struct
import sys

CAPS = (
    0x00000001  # LONG_PASSWORD
    | 0x00000004  # LONG_FLAG
    | 0x00000008  # CONNECT_WITH_DB
    | 0x00000200  # PROTOCOL_41
    | 0x00002000  # TRANSACTIONS
    | 0x00008000  # SECURE_CONNECTION
    | 0x00010000  # MULTI_STATEMENTS
    | 0x00020000  # MULTI_RESULTS
    | 0x00080000  # PLUGIN_AUTH
    | 0x00100000  # CONNECT_ATTRS
    | 0x00200000  # PLUGIN_AUTH_LENENC_CLIENT_DATA
    | 0x01000000  # DEPRECATE_EOF
    | 0x08000000  # QUERY_ATTRIBUTES
)
SALT = b"0123456789abcdefghij"


def packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def read_packet(conn):
    head = b""
    while len(head) < 4:
        chunk = conn.recv(4 - len(head))
        if not chunk:
            return None, None
        head += chunk
    length = int.from_bytes(head[:3], "little")
    body = b""
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            return None, None
        body += chunk
    return head[3], body


def ok(seq):
    # OK: affected rows 0, last insert id 0, status AUTOCOMMIT, no warnings.
    return packet(seq, b"\x00\x00\x00\x02\x00\x00\x00")


def greeting():
    return packet(0, b"\x0a8.0.36-wirespan-stub\x00" + struct.pack("<I", 7) + SALT[:8] + b"\x00"
                  + struct.pack("<H", CAPS & 0xFFFF) + b"\xff" + struct.pack("<H", 2)
                  + struct.pack("<H", CAPS >> 16) + bytes([21]) + bytes(10) + SALT[8:] + b"\x00"
                  + b"mysql_native_password\x00")


def serve(port):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(4)
    while True:
        conn, _ = listener.accept()
        conn.sendall(greeting())
        seq, _ = read_packet(conn)
        if seq is None:
            conn.close()
            continue
        conn.sendall(ok(seq + 1))
        while True:
            seq, body = read_packet(conn)
            if seq is None or body[:1] == b"\x01":  # gone, or COM_QUIT
                break
            conn.sendall(ok(seq + 1))
        conn.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
