#!/usr/bin/env bash
# Correlation under load: for each level of pcaps/shop/load (N checkouts at once), replays the
# six captures with the apps' OTLP bodies and holds the output against what really happened
# (pcaps/shop/check_load.py). Prints, per N: network spans, how many were joined to the right
# parent, to a wrong one (must stay 0: precision 1.0), left ambiguous (linked to every
# candidate) or unjoined, and which evidence decided the joins by time.
#
#   bash benches/correlation.sh [WIRESPAN]        # default target/release/wirespan (built here)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/wirespan}
[ -n "${1:-}" ] || cargo build --release --quiet
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
printf '%10s %9s %6s %6s %6s %9s %8s %9s %7s   %s\n' N checkouts spans right wrong ambiguous \
    unjoined precision recall "joins by time: time/statement/values/connection"
status=0
for dir in $(ls -d pcaps/shop/load/n* | sort -V) pcaps/shop/load/prefork-*; do
    n=${dir##*/}
    n=${n#n}
    "$BIN" replay "$dir"/*.pcap --otel "$dir/otlp" -o "$TMP/out.jsonl" --stats 2>"$TMP/stats" \
        || { cat "$TMP/stats" >&2; exit 1; }
    python3 pcaps/shop/check_load.py --json "$dir" "$TMP/out.jsonl" >"$TMP/report.json" || status=1
    c() { awk -v k="correlation_$1" '$1 == k {print $2}' "$TMP/stats"; }
    python3 - "$TMP/report.json" "$n" "$(wc -l <"$dir/loadgen.jsonl")" \
        "$(c evidence_time)/$(c evidence_statement)/$(c evidence_values)/$(c evidence_connection)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["total"]
print("%10s %9s %6d %6d %6d %9d %8d %9.3f %7.3f   %s" % (
    sys.argv[2], sys.argv[3], t["spans"], t["right"], t["wrong"], t["ambiguous"],
    t["unjoined"], r["precision"], r["recall"], sys.argv[4]))
for p in r["problems"]:
    print("     PROBLEM: " + p)
PY
done
exit $status
