#!/usr/bin/env bash
# The live drop-free limit: benches/live.sh at a series of offered rates, with one and with two
# wirespan threads, tcpdump capturing the same veth in the same run. One row per run: the rate
# asked for and reached, what wirespan received and dropped (in the kernel, at its worker
# queues), its spans against the spans of that many loops of the capture in replay, and
# tcpdump's drops. A run is drop-free when wirespan lost nothing: no kernel or queue drop and
# every span written.
#
#   sudo bash benches/live-limit.sh [PCAP] [SECONDS] [RATE…]
#
# Defaults: pcaps/http/underlay-vxlan.pcap, about 4 s of traffic per run, rates 200 000 to
# 1 000 000 packets/s and 0 (as fast as the sender goes). RPS=MASK is passed to live.sh (the
# receive path on those CPUs instead of the sender's). THREADS="1 2" by default.
set -euo pipefail
cd "$(dirname "$0")/.."
PCAP=${1:-pcaps/http/underlay-vxlan.pcap}
SECONDS_PER_RUN=${2:-4}
shift $(($# < 2 ? $# : 2))
RATES=("$@")
[ ${#RATES[@]} -eq 0 ] && RATES=(200000 400000 600000 800000 1000000 0)
cargo build --release --quiet
cargo build --release --quiet --example send
frames=$(target/release/wirespan replay "$PCAP" -o /dev/null 2>&1 | grep -oE '^wirespan: [0-9]+ packets' | grep -oE '[0-9]+')
spans=$(target/release/wirespan replay "$PCAP" -o /dev/null 2>&1 | grep -oE '[0-9]+ spans written' | grep -oE '^[0-9]+')
echo "input: $PCAP ($frames frames, $spans spans per loop), ~${SECONDS_PER_RUN} s per run${RPS:+, RPS $RPS}"
printf '%-7s %9s %9s %10s %10s %8s %10s %10s %8s %s\n' threads asked reached received k_drops q_drops spans expected td_drops drop-free
for threads in ${THREADS:-1 2}; do
  for rate in "${RATES[@]}"; do
    target=$rate
    [ "$rate" = 0 ] && target=1000000
    loops=$(((target * SECONDS_PER_RUN + frames - 1) / frames))
    out=$(NO_REPLAY=1 bash benches/live.sh "$PCAP" "$loops" "$threads" "$rate" 2>&1)
    reached=$(grep -oE '\(([0-9]+) packets/s' <<<"$out" | grep -oE '[0-9]+' | head -1)
    read -r _ ws_rx ws_drop < <(grep -E '^wirespan +[0-9]' <<<"$out")
    read -r _ _ td_drop < <(grep -E '^tcpdump +[0-9]' <<<"$out")
    ws_spans=$(grep -oE 'wirespan live: [0-9]+' <<<"$out" | grep -oE '[0-9]+')
    qdrop=$(grep -oE '[0-9]+ frames dropped at worker queues' <<<"$out" | grep -oE '^[0-9]+')
    expected=$((loops * spans))
    free=no
    [ "$ws_drop" = 0 ] && [ "$qdrop" = 0 ] && [ "$ws_spans" = "$expected" ] && free=yes
    printf '%-7s %9s %9s %10s %10s %8s %10s %10s %8s %s\n' "$threads" "${rate/#0/max}" "$reached" \
      "$ws_rx" "$ws_drop" "$qdrop" "$ws_spans" "$expected" "$td_drop" "$free"
  done
done
