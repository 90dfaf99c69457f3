#!/usr/bin/env bash
# Two builds of wirespan against each other on every bundled capture, every conformance
# capture (../shared/conformance) and the shop at each load level with the apps' spans: the
# spans (byte for byte) and the --stats counters (the timing line left out).
#
#   bash benches/same-spans.sh OLD_WIRESPAN NEW_WIRESPAN
#
# Prints each capture whose spans or counters differ (the first lines of a counter
# difference), then "N runs, M with different spans"; exits 1 when any spans differ.
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OLD_WIRESPAN NEW_WIRESPAN" >&2; exit 2; }
old=$(readlink -f "$1")
new=$(readlink -f "$2")
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
runs=0
differ=0
compare() {  # label, then the replay arguments
    local label="$1"
    shift
    "$old" replay --stats --host-name h "$@" >"$work/a.out" 2>"$work/a.err"
    local ra=$?
    "$new" replay --stats --host-name h "$@" >"$work/b.out" 2>"$work/b.err"
    local rb=$?
    runs=$((runs + 1))
    if ! cmp -s "$work/a.out" "$work/b.out" || [ "$ra" != "$rb" ]; then
        echo "spans differ: $label"
        differ=$((differ + 1))
    fi
    if ! diff -q <(grep -v " in [0-9.]* s$" "$work/a.err") <(grep -v " in [0-9.]* s$" "$work/b.err") >/dev/null; then
        echo "counters differ: $label"
        diff <(grep -v " in [0-9.]* s$" "$work/a.err") <(grep -v " in [0-9.]* s$" "$work/b.err") | head -5
    fi
}
while IFS= read -r f; do
    compare "$f" "$f"
done < <(find pcaps ../shared/conformance \( -name "*.pcap" -o -name "*.pcapng" \) 2>/dev/null \
    | grep -v "/load/" | sort)
for d in pcaps/shop pcaps/shop/load/*; do
    [ -d "$d/otlp" ] || continue
    compare "$d with --otel" --otel "$d/otlp" "$d"/*.pcap
done
echo "$runs runs, $differ with different spans"
[ "$differ" = 0 ]
