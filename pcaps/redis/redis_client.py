"""The clients of pcaps/redis/gen-redis.sh (redis-py), each command logged with what came back,
to redis.expected.json: RESP2 and RESP3 connections, a pipeline, MULTI/EXEC, SELECT, a
WRONGTYPE error, a nil and a 100 kB reply, pub/sub (subscribe, two messages, unsubscribe), and
against a server with a password: NOAUTH, WRONGPASS, then AUTH."""

import json
import sys

import redis

host, port, secured, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
calls = []


def client(p=port, **kw):
    r = redis.Redis(host=host, port=p, single_connection_client=True, **kw)
    r.ping()
    return r


def port_of(r):
    return r.connection._sock.getsockname()[1]


def log(r, command, db=0, error=None, n=1):
    for _ in range(n):
        calls.append({"client_port": port_of(r), "command": command, "db": db, "error": error})


r = client(protocol=2)
r.set("user:1", "alice")
log(r, "SET")
assert r.get("user:1") == b"alice"
log(r, "GET")
assert r.get("nothing") is None
log(r, "GET")
r.set("big", "x" * 100_000)
log(r, "SET")
assert len(r.get("big")) == 100_000
log(r, "GET")
r.lpush("list", "a", "b")
log(r, "LPUSH")
try:
    r.get("list")
    raise SystemExit("GET on a list should fail")
except redis.ResponseError as e:
    assert str(e).startswith("WRONGTYPE")
    log(r, "GET", error="WRONGTYPE")
# Pipelines on this connection (redis-py would take one from its pool); incr sends INCRBY.
p = r.pipeline(transaction=False)
p.connection = r.connection
for i in range(5):
    p.incr("counter")
p.execute()
log(r, "INCRBY", n=5)
t = r.pipeline(transaction=True)
t.connection = r.connection
t.set("a", 1)
t.set("b", 2)
t.execute()
log(r, "MULTI")
log(r, "SET", n=2)
log(r, "EXEC")
r.select(2)
log(r, "SELECT", db=0)
r.set("in-two", "yes")
log(r, "SET", db=2)
r.close()

r3 = client(protocol=3)
r3.hset("h", mapping={"a": "1", "b": "2"})
log(r3, "HSET")
assert r3.hgetall("h") == {b"a": b"1", b"b": b"2"}
log(r3, "HGETALL")
r3.close()

sub = redis.Redis(host=host, port=port)
ps = sub.pubsub()
ps.subscribe("news")
first = ps.get_message(timeout=2)
assert first and first["type"] == "subscribe"
pub = client(protocol=2)
for text in ("one", "two"):
    pub.publish("news", text)
    log(pub, "PUBLISH")
got = []
while len(got) < 2:
    m = ps.get_message(timeout=2)
    if m and m["type"] == "message":
        got.append(m["data"])
assert got == [b"one", b"two"]
ps_port = ps.connection._sock.getsockname()[1]
calls.append({"client_port": ps_port, "command": "SUBSCRIBE", "db": 0, "error": None})
ps.unsubscribe("news")
ps.get_message(timeout=2)
calls.append({"client_port": ps_port, "command": "UNSUBSCRIBE", "db": 0, "error": None})
ps.close()
pub.close()

s = redis.Redis(host=host, port=secured, single_connection_client=True, protocol=2)


def connected(r):
    # An authentication error closes the connection; the next command opens another.
    if r.connection._sock is None:
        r.connection.connect()
    return port_of(r)


for command, args, error in [("GET", ("k",), "NOAUTH"), ("AUTH", ("wrong",), "WRONGPASS"),
                             ("AUTH", ("right",), None)]:
    cport = connected(s)
    try:
        s.execute_command(command, *args)
        assert error is None, f"{command} should fail with {error}"
    except redis.AuthenticationError as e:
        assert error, e
    calls.append({"client_port": cport, "command": command, "db": 0, "error": error})
s.close()

with open(out, "w") as f:
    json.dump({"calls": calls, "pushes": 2}, f, indent=1)
    f.write("\n")
print(f"{len(calls)} calls", file=sys.stderr)
