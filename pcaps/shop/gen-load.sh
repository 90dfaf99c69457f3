#!/usr/bin/env bash
# The shop under load: for N = 1, 2, 4, 8 and 16 checkouts at once, the shop of gen-shop.sh
# (same topology, services and captures) serves max(4, 2N) checkouts for distinct users, N at
# a time, and pcaps/shop/load/nN/ gets the six captures, the apps' OTLP bodies (otlp/), the
# load generator's log (loadgen.jsonl) and the cart's and catalog's own records of each call
# they served (cart-records.jsonl, catalog-records.jsonl: user, trace, span, DB port).
#
#   sudo bash pcaps/shop/gen-load.sh [N ...]       # about 20 s per level
#
# check_load.py holds wirespan's output for each level against those records; the test
# tests/correlate_load.rs and benches/correlation.sh run it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(1 2 4 8 16)
for n in "${levels[@]}"; do
    requests=$((2 * n))
    [ "$requests" -ge 4 ] || requests=4
    echo "== $n at once, $requests checkouts"
    REQUESTS=$requests CONCURRENCY=$n SHOP_LOAD_OUT="$HERE/load/n$n" bash "$HERE/gen-shop.sh"
done
