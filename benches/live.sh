#!/usr/bin/env bash
# Live-capture throughput: tcpreplay pushes a capture through a veth pair as fast as it can
# (--topspeed) while wirespan and tcpdump capture side by side on the receiving end. Prints
# what each received and dropped, the rate tcpreplay reached, and wirespan's CPU time.
#
#   sudo bash benches/live.sh [PCAP] [LOOPS] [THREADS]
#
# Defaults: pcaps/http/underlay-vxlan.pcap (real nginx traffic inside VXLAN), 2000 loops,
# 1 thread. Needs root, tcpreplay and tcpdump (apt-get install tcpreplay tcpdump).
set -euo pipefail
cd "$(dirname "$0")/.."
PCAP=${1:-pcaps/http/underlay-vxlan.pcap}
LOOPS=${2:-2000}
THREADS=${3:-1}
cargo build --release --quiet
WS=target/release/wirespan
TX=wsb-tx-$$
RX=wsb-rx-$$
OUT=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$TX" 2>/dev/null || true
  ip netns del "$RX" 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT
ip netns add "$TX"
ip netns add "$RX"
ip link add wsb-a$$ type veth peer name wsb-b$$
ip link set wsb-a$$ netns "$TX"
ip link set wsb-b$$ netns "$RX"
for ns in "$TX" "$RX"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
ip -n "$TX" link set wsb-a$$ up
ip -n "$RX" link set wsb-b$$ up

ip netns exec "$RX" "$WS" capture -i wsb-b$$ --promisc --threads "$THREADS" -o /dev/null --stats 2>"$OUT/ws.err" &
WSPID=$!
PIDS+=($WSPID)
ip netns exec "$RX" tcpdump -i wsb-b$$ -s 0 -w /dev/null 2>"$OUT/td.err" &
TDPID=$!
PIDS+=($TDPID)
for _ in $(seq 1 100); do
  grep -q "capturing on" "$OUT/ws.err" 2>/dev/null && grep -q "listening on" "$OUT/td.err" 2>/dev/null && break
  sleep 0.1
done
ip netns exec "$TX" tcpreplay -i wsb-a$$ --topspeed --loop "$LOOPS" "$PCAP" >"$OUT/replay.out" 2>&1
sleep 1
# wirespan's own pid inside `ip netns exec`: its only child.
WSREAL=$(pgrep -P "$WSPID" || echo "$WSPID")
read -r UT ST < <(awk '{print $14, $15}' "/proc/$WSREAL/stat")
TICKS=$(getconf CLK_TCK)
kill -INT "$TDPID" "$WSPID"
cp "$OUT/ws.err" /tmp/wirespan-live-bench.stats
wait "$WSPID" || true
wait "$TDPID" || true

sent=$(grep -oE 'Actual: [0-9]+ packets' "$OUT/replay.out" | grep -oE '[0-9]+' | head -1)
rate=$(grep -oE 'Rated: [0-9.]+ Bps, [0-9.]+ Mbps, [0-9.]+ pps' "$OUT/replay.out" | head -1)
ws_rx=$(awk '$1=="kernel_packets"{print $2}' "$OUT/ws.err")
ws_drop=$(awk '$1=="kernel_drops"{print $2}' "$OUT/ws.err")
ws_spans=$(grep -oE '[0-9]+ spans written' "$OUT/ws.err" | grep -oE '^[0-9]+')
td_rx=$(grep -oE '[0-9]+ packets received by filter' "$OUT/td.err" | grep -oE '^[0-9]+')
td_drop=$(grep -oE '[0-9]+ packets dropped by kernel' "$OUT/td.err" | grep -oE '^[0-9]+')
cpu=$(awk -v u="$UT" -v s="$ST" -v t="$TICKS" 'BEGIN{printf "%.2f", (u+s)/t}')
echo "input: $PCAP x $LOOPS loops, $THREADS wirespan thread(s)"
echo "tcpreplay sent: $sent packets ($rate)"
printf '%-10s %12s %12s\n' "" received dropped
printf '%-10s %12s %12s\n' wirespan "$ws_rx" "$ws_drop"
printf '%-10s %12s %12s\n' tcpdump "$td_rx" "$td_drop"
qdrop=$(awk '$1=="queue_drops"{print $2}' "$OUT/ws.err")
sdrop=$(awk '$1=="spans_dropped_queue_full"{print $2}' "$OUT/ws.err")
echo "wirespan: $ws_spans spans, ${cpu} s CPU, $qdrop frames dropped at worker queues, $sdrop spans dropped at the writer queue"
