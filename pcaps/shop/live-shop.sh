#!/usr/bin/env bash
# The shop demo with wirespan as the live agent on both nodes: the topology, MariaDB and the
# OpenTelemetry-instrumented services of gen-shop.sh (lib.sh), but instead of the Python
# recorders one `wirespan capture -i any --otlp` runs in each node's namespace. It captures
# every interface of its node (pod veths, cni0, flannel.1, the underlay eth0), receives the
# apps' OTLP/HTTP exports on <bridge IP>:38086/api/v1/otel/trace and writes the joined traces.
#
#   sudo bash pcaps/shop/live-shop.sh WIRESPAN OUTDIR
#
# Writes OUTDIR/node1.jsonl, OUTDIR/node2.jsonl (each agent's OTLP/JSON lines),
# OUTDIR/node1.stderr, OUTDIR/node2.stderr (their logs and --stats) and OUTDIR/loadgen.json
# (the requests the load generator sent and the responses it got), plus loadgen.jsonl and the
# cart's and catalog's own records of their calls (cart-records.jsonl, catalog-records.jsonl),
# then runs check_live.py OUTDIR, or with CONCURRENCY=N (N checkouts at once, REQUESTS in all)
# check_load.py on both agents' output (skip either with LIVE_SHOP_NO_CHECK=1).
#
# Sequence: build everything, probe every edge (before the agents start, so the probes are
# not captured), start both agents and wait for "capturing on", check that every pod reaches
# its node's OTLP port, run the load (REQUESTS, default 5, 0.5 s apart), SIGTERM the services
# (they close their gRPC channel / DB connection and flush their spans; each must exit 0),
# wait 1 s so the connections' ends are captured, SIGTERM both agents (they drain; each must
# exit 0) and check that each agent received all of its node's app spans.
#
# With SHOP_TLS=1 the catalog serves HTTPS, the frontend writes its TLS key log (SSLKEYLOGFILE)
# and both agents follow it (--tls-keylog): the frontend->catalog calls are read inside TLS.
# With LATE_JOIN=1 the agents are restarted after a first checkout, so the load runs on
# connections older than the agents (the first checkout is not in the outputs). With
# METRICS_COLLECTOR=1 each agent also exports to an OTLP/gRPC collector on its node
# (OUTDIR/metrics-node<n>.jsonl: the metrics pushes it received).
#
# Needs root, iproute2, python3 with the packages of README.md, curl and Debian's MariaDB
# binaries. Namespaces: wsv-node1, wsv-node2, wsv-<pod> (gen-shop.sh uses wse-*, so both can
# run at once). A trap stops every process started here and removes the namespaces, also on
# failure; every server (and each agent, --duration) stops by itself after 300 s.
# Exits non-zero on any failure.
set -euo pipefail

ME=live-shop.sh
NSP=wsv
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[ $# -eq 2 ] || die "usage: $ME WIRESPAN OUTDIR"
WIRESPAN="$(readlink -f "$1")"
OUTDIR="$2"
[ -x "$WIRESPAN" ] || die "$1 is not an executable"
shop_preflight
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
rm -f "$OUTDIR"/node1.jsonl "$OUTDIR"/node2.jsonl "$OUTDIR"/node1.stderr \
      "$OUTDIR"/node2.stderr "$OUTDIR"/loadgen.json
WORK="$(mktemp -d /tmp/wirespan-live-shop.XXXXXX)"
shop_install_cleanup     # the trap; also removes leftovers of an interrupted run

# The shop's traffic and the VXLAN underlay; not the OTLP exports (port 38086).
FILTER="tcp port 8080 or tcp port 50051 or tcp port 9090 or tcp port 3306 or udp port 8472"
WINDOW_MS=3000
APP_SPANS_PER_NODE=$((REQUESTS * SPANS_PER_REQUEST / 2))   # node1: frontend 3; node2: cart 1 + catalog 2

# --- the shop (lib.sh), probed before the agents start ------------------------------------
shop_topology
shop_start_db
shop_start_services
shop_probe_edges

# --- one agent per node ------------------------------------------------------------------
declare -A WS_PID
KEYLOG=()
if [ "$SHOP_TLS" = 1 ]; then
    # The frontend's key log, followed by both agents (the file appears with the first call).
    KEYLOG=(--tls-keylog "$SHOP_KEYLOG")
fi
EXPORT=()
if [ -n "${METRICS_COLLECTOR:-}" ]; then
    # An OTLP/gRPC collector on each node (tests/metrics/collector.py): the agent exports its
    # spans and pushes its service-graph metrics there every second (OUTDIR/metrics-node<n>.jsonl).
    EXPORT=(--export grpc://127.0.0.1:4317 --export-metrics-interval-s 1)
    for n in 1 2; do
        ip netns exec "$(node_ns $n)" "$PY" "$HERE/../../tests/metrics/collector.py" 4318 4317 \
            "$OUTDIR/metrics-node$n.jsonl" >"$WORK/collector-node$n.out" 2>&1 &
        PIDS+=($!)
    done
    for n in 1 2; do
        for i in $(seq 1 50); do
            ip netns exec "$(node_ns $n)" "$PY" -c "import socket; socket.create_connection(('127.0.0.1', 4317), 0.2)" 2>/dev/null && break
            [ "$i" = 50 ] && { cat "$WORK/collector-node$n.out" >&2; die "the collector on node$n did not start"; }
            sleep 0.2
        done
    done
fi
start_agents() {  # out-dir: each agent writes out-dir/node<n>.jsonl and .stderr
    local out="$1" n i
    for n in 1 2; do
        ip netns exec "$(node_ns $n)" "$WIRESPAN" capture -i any --otlp \
            --listen-deepflow "10.244.$n.1:$OTLP_PORT" --listen-http off --listen-grpc off \
            --correlation-window-ms "$WINDOW_MS" --host-name "node$n" \
            --duration "$MAX_SECONDS" -o "$out/node$n.jsonl" --stats "${EXPORT[@]}" "${KEYLOG[@]}" "$FILTER" \
            >"$WORK/wirespan-node$n.stdout" 2>"$out/node$n.stderr" &
        WS_PID[$n]=$!
        PIDS+=($!)
    done
    for n in 1 2; do
        for i in $(seq 1 100); do
            grep -q "capturing on" "$out/node$n.stderr" 2>/dev/null && break
            alive "${WS_PID[$n]}" || { cat "$out/node$n.stderr" >&2; die "wirespan on node$n exited"; }
            [ "$i" = 100 ] && { cat "$out/node$n.stderr" >&2; die "wirespan on node$n did not start"; }
            sleep 0.1
        done
    done
}

# LATE_JOIN=1: the agents restart after a first checkout, as on an upgrade: the frontend's
# gRPC channel (and its HPACK tables) and the DB connections are older than the agents that
# then see the load. The first agents receive the first checkout's spans.
if [ -n "${LATE_JOIN:-}" ]; then
    mkdir -p "$WORK/before-restart"
    start_agents "$WORK/before-restart"
    shop_probe_collectors
    shop_request 0
    sleep 2   # the batch span processors export (300 ms) before the agents go
    for n in 1 2; do kill -TERM "${WS_PID[$n]}"; done
    for n in 1 2; do wait "${WS_PID[$n]}" || die "the first wirespan on node$n failed"; done
fi
start_agents "$OUTDIR"
shop_probe_collectors     # the apps' exporters reach their node's agent
sleep 0.5

# --- the load ----------------------------------------------------------------------------
shop_loadgen "$WORK/loadgen.jsonl"
"$PY" - "$WORK/loadgen.jsonl" "$OUTDIR/loadgen.json" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
with open(sys.argv[2], "w") as f:
    json.dump({"requests": reqs}, f, indent=2, sort_keys=True)
    f.write("\n")
PY

# --- stop the services: each flushes its spans to its agent and must exit 0 ---------------
stop_service() {  # name pid: SIGTERM, bounded wait, exit status
    local name="$1" pid="$2" i rc=0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        die "$name did not stop within 10 s of SIGTERM"
    fi
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] || { tail -n 30 "$WORK/$name.out" >&2; die "$name exited with $rc"; }
    ! grep -qi "failed to export\|exception" "$WORK/$name.out" || {
        tail -n 30 "$WORK/$name.out" >&2; die "$name: span export failed"; }
}
stop_service frontend "$FRONTEND_PID"
stop_service catalog "$CATALOG_PID"
stop_service cart "$CART_PID"
sleep 1   # the long-lived connections' FINs reach the agents

# --- stop the agents: SIGTERM, they drain the window and must exit 0 ------------------------
for n in 1 2; do kill -TERM "${WS_PID[$n]}"; done
for n in 1 2; do
    for i in $(seq 1 300); do
        alive "${WS_PID[$n]}" || break
        sleep 0.1
    done
    alive "${WS_PID[$n]}" && { kill -KILL "${WS_PID[$n]}"; die "wirespan on node$n did not exit within 30 s of SIGTERM"; }
    rc=0
    wait "${WS_PID[$n]}" || rc=$?
    [ "$rc" = 0 ] || { cat "$OUTDIR/node$n.stderr" >&2; die "wirespan on node$n exited with $rc"; }
    got=$(sed -n 's/.*OTLP in: [0-9]* requests, \([0-9]*\) spans received.*/\1/p' \
          "$OUTDIR/node$n.stderr")
    [ "$got" = "$APP_SPANS_PER_NODE" ] || {
        cat "$OUTDIR/node$n.stderr" >&2
        die "wirespan on node$n received ${got:-no} app spans, want $APP_SPANS_PER_NODE"; }
    [ -s "$OUTDIR/node$n.jsonl" ] || die "node$n.jsonl is empty"
    echo "node$n: $(grep -h 'OTLP in:' "$OUTDIR/node$n.stderr")"
    echo "node$n: $(grep -h 'spans written to' "$OUTDIR/node$n.stderr")"
done

cp "$WORK/loadgen.jsonl" "$WORK/cart-records.jsonl" "$WORK/catalog-records.jsonl" "$OUTDIR/"
if [ "${LIVE_SHOP_NO_CHECK:-}" != 1 ]; then
    if [ "$CONCURRENCY" -gt 1 ]; then
        "$PY" -B "$HERE/check_load.py" "$OUTDIR" "$OUTDIR/node1.jsonl" "$OUTDIR/node2.jsonl"
    else
        "$PY" -B "$HERE/check_live.py" "$OUTDIR"
    fi
fi
echo "$ME: done; outputs in $OUTDIR"
