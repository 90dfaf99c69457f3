#!/usr/bin/env bash
# Live capture against replay, on the same packets, in one run: benches/send.rs pushes a
# capture through a veth pair (looped, each loop's client ports moved so that every loop's
# connections are new flows) while wirespan and tcpdump capture side by side on the receiving
# end; then wirespan replays a pcap of exactly the packets the sender offered (best of three).
# Prints what each capture received and dropped, the rate the sender reached, the spans
# written, and wirespan's CPU per packet live and in replay (user + system time of the whole
# process, all threads).
#
#   sudo bash benches/live.sh [PCAP] [LOOPS] [THREADS] [PPS] [-- WIRESPAN CAPTURE OPTIONS…]
#
# Defaults: pcaps/http/underlay-vxlan.pcap (real nginx traffic inside VXLAN, 212 frames),
# 16 000 loops (3.39 M packets: long enough that start-up's fresh pages and growing tables
# weigh little), 1 thread, as fast as the sender can (PPS 0; give a rate to
# offer one, e.g. 500000). Options after `--` go to `wirespan capture` (e.g.
# `--no-process-names`, `--block-timeout-ms 50`). With LIVE_SH_KEEP=1 the looped pcap stays
# in target/live-looped.pcap; with NO_REPLAY=1 the replay is skipped; with RPS=MASK the
# receiving veth's packets are processed on the CPUs of MASK (rps_cpus, e.g. 2 for CPU 1)
# instead of the sender's, so that the sender's core is not also the receive path's and both
# captures' (a loaded machine: the receive path competes with the captures); with
# SENDER_CPU=N the sender is pinned to CPU N (and `-- --cpus M` pins wirespan, TCPDUMP_CPU=N
# tcpdump); SENDER_THREADS=N sends from N threads (on a veth each thread's CPU also runs the
# receive path, so one thread cannot offer more than one core carries); SENDER_NICE=-10 gives
# the sender priority over the captures (to hold a rate the cores cannot also capture).
# Prints CPU per packet of both captures too. Needs root, tcpdump and the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
PCAP=${1:-pcaps/http/underlay-vxlan.pcap}
LOOPS=${2:-16000}
THREADS=${3:-1}
PPS=${4:-0}
shift $(($# < 4 ? $# : 4))
[ "${1:-}" = "--" ] && shift
EXTRA=("$@")
cargo build --release --quiet
cargo build --release --quiet --example send
WS=target/release/wirespan
SEND=target/release/examples/send
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
# Room for VXLAN's 50 bytes on full-sized inner frames.
ip -n "$TX" link set wsb-a$$ mtu 9000 up
ip -n "$RX" link set wsb-b$$ mtu 9000 up
if [ -n "${RPS:-}" ]; then
  ip netns exec "$RX" sh -c "echo $RPS > /sys/class/net/wsb-b$$/queues/rx-0/rps_cpus"
fi

cpu_of() { # PID → user+system seconds of the process (all its threads)
  awk -v t="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / t}' "/proc/$1/stat"
}
counter() { awk -v k="$1" '$1==k{print $2}' "$2"; }

ip netns exec "$RX" "$WS" capture -i wsb-b$$ --promisc --threads "$THREADS" -o /dev/null \
  --stats "${EXTRA[@]}" 2>"$OUT/ws.err" &
WSPID=$!
PIDS+=($WSPID)
tdpin=()
[ -n "${TCPDUMP_CPU:-}" ] && tdpin=(taskset -c "$TCPDUMP_CPU")
ip netns exec "$RX" "${tdpin[@]}" tcpdump -i wsb-b$$ -s 0 -B 65536 -w /dev/null 2>"$OUT/td.err" &
TDPID=$!
PIDS+=($TDPID)
for _ in $(seq 1 100); do
  grep -q "capturing on" "$OUT/ws.err" 2>/dev/null && grep -q "listening on" "$OUT/td.err" 2>/dev/null && break
  sleep 0.1
done
# wirespan's own pid inside `ip netns exec`: its only child.
WSREAL=$(pgrep -P "$WSPID" || echo "$WSPID")
cpu0=$(cpu_of "$WSREAL")
TDREAL=$(pgrep -P "$TDPID" || echo "$TDPID")
td0=$(cpu_of "$TDREAL")
pace=()
[ "$PPS" != 0 ] && pace=(--pps "$PPS")
pin=()
[ -n "${SENDER_CPU:-}" ] && pin=(taskset -c "$SENDER_CPU")
[ -n "${SENDER_NICE:-}" ] && pin=(nice -n "$SENDER_NICE" "${pin[@]}")
ip netns exec "$TX" "${pin[@]}" "$SEND" wsb-a$$ "$PCAP" --loops "$LOOPS" "${pace[@]}" \
  --threads "${SENDER_THREADS:-1}" >"$OUT/send.out"
# Blocks not yet full are handed over at the ring's timeout; the flows' last spans at exit.
sleep 1
cpu1=$(cpu_of "$WSREAL")
td1=$(cpu_of "$TDREAL")
kill -INT "$TDPID" "$WSPID"
wait "$WSPID" || true
wait "$TDPID" || true
cp "$OUT/ws.err" /tmp/wirespan-live-bench.stats

sent=$(grep -oE '^sent [0-9]+' "$OUT/send.out" | grep -oE '[0-9]+')
rate=$(grep -oE '[0-9]+ packets/s, [0-9.]+ MB/s' "$OUT/send.out")
ws_rx=$(counter kernel_packets "$OUT/ws.err")
ws_drop=$(counter kernel_drops "$OUT/ws.err")
ws_spans=$(grep -oE '[0-9]+ spans written' "$OUT/ws.err" | grep -oE '^[0-9]+' || echo 0)
td_rx=$(grep -oE '[0-9]+ packets received by filter' "$OUT/td.err" | grep -oE '^[0-9]+')
td_drop=$(grep -oE '[0-9]+ packets dropped by kernel' "$OUT/td.err" | grep -oE '^[0-9]+')
qdrop=$(counter queue_drops "$OUT/ws.err")
sdrop=$(counter spans_dropped_queue_full "$OUT/ws.err")
echo "input: $PCAP x $LOOPS loops, $THREADS wirespan thread(s), ${EXTRA[*]:-default options}${RPS:+, RPS $RPS}"
echo "sender: $sent packets offered ($rate)"
printf '%-10s %12s %12s\n' "" received dropped
printf '%-10s %12s %12s\n' wirespan "$ws_rx" "$ws_drop"
printf '%-10s %12s %12s\n' tcpdump "$td_rx" "$td_drop"
echo "wirespan live: $ws_spans spans, $qdrop frames dropped at worker queues, $sdrop spans dropped at the writer queue"
awk -v w0="$cpu0" -v w1="$cpu1" -v t0="$td0" -v t1="$td1" -v sent="$sent" 'BEGIN {
  n = sent > 0 ? sent : 1
  printf "CPU per packet offered, live: wirespan %.0f ns, tcpdump %.0f ns\n", (w1 - w0) / n * 1e9, (t1 - t0) / n * 1e9 }'
[ "${NO_REPLAY:-0}" = 1 ] && exit 0

# The same packets, replayed: the sender writes what it sent as a pcap.
LOOPED=$OUT/looped.pcap
[ "${LIVE_SH_KEEP:-0}" = 1 ] && LOOPED=target/live-looped.pcap
"$SEND" --write "$LOOPED" "$PCAP" --loops "$LOOPS" >/dev/null
# Replay's best of three (the file is in the page cache after the first).
best=
for _ in 1 2 3; do
  /usr/bin/env time -f "%U %S" -o "$OUT/replay.time" \
    "$WS" replay "$LOOPED" -o /dev/null --stats 2>"$OUT/replay.err" || true
  read -r u s <"$OUT/replay.time"
  if [ -z "$best" ] || awk -v a="$u" -v b="$s" -v c="$best" 'BEGIN{exit !(a + b < c)}'; then
    best=$(awk -v a="$u" -v b="$s" 'BEGIN{print a + b}')
    RU=$u
    RS=$s
  fi
done

rp_spans=$(grep -oE '[0-9]+ spans written' "$OUT/replay.err" | grep -oE '^[0-9]+' || echo 0)
rp_packets=$(counter packets "$OUT/replay.err")
echo "wirespan replay of the same packets: $rp_spans spans"
awk -v c0="$cpu0" -v c1="$cpu1" -v rx="$ws_rx" -v ru="$RU" -v rs="$RS" -v rp="$rp_packets" 'BEGIN {
  live = (c1 - c0) / (rx > 0 ? rx : 1) * 1e9; replay = (ru + rs) / (rp > 0 ? rp : 1) * 1e9;
  printf "CPU per packet: live %.0f ns (%.2f s for %d packets), replay %.0f ns (%.2f s for %d packets): live/replay %.2f\n",
    live, c1 - c0, rx, replay, ru + rs, rp, (replay > 0 ? live / replay : 0) }'
