#!/usr/bin/env bash
# The shop under load: for N = 1, 2, 4, 8 and 16 checkouts at once, the shop of gen-shop.sh
# (same topology, services and captures) serves max(4, 2N) checkouts for distinct users, N at
# a time, and pcaps/shop/load/nN/ gets the six captures, the apps' OTLP bodies (otlp/), the
# load generator's log (loadgen.jsonl) and the cart's and catalog's own records of each call
# they served (cart-records.jsonl, catalog-records.jsonl: user, trace, span, DB port).
#
# With "prefork" among the levels it also serves 16 checkouts 8 at a time with the catalog
# under gunicorn, 3 sync worker processes each with its own DB connection
# (pcaps/shop/load/prefork-n8/). With "late": 4 checkouts one at a time on connections opened
# before the capture started (LATE_JOIN=1: a checkout first, then the captures), as when the
# agent starts or restarts (pcaps/shop/load/late-join/).
#
#   sudo bash pcaps/shop/gen-load.sh [N ... | prefork | late]       # about 20 s per level
#
# check_load.py holds wirespan's output for each level against those records; the test
# tests/correlate_load.rs and benches/correlation.sh run it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(1 2 4 8 16 prefork late)
for n in "${levels[@]}"; do
    if [ "$n" = late ]; then
        echo "== one at a time, 4 checkouts, the connections opened before the capture"
        REQUESTS=4 CONCURRENCY=1 LATE_JOIN=1 SHOP_LOAD_OUT="$HERE/load/late-join" \
            bash "$HERE/gen-shop.sh"
        continue
    fi
    if [ "$n" = prefork ]; then
        echo "== 8 at once, 16 checkouts, catalog under gunicorn with 3 workers"
        REQUESTS=16 CONCURRENCY=8 CATALOG_PREFORK=3 SHOP_LOAD_OUT="$HERE/load/prefork-n8" \
            bash "$HERE/gen-shop.sh"
        continue
    fi
    requests=$((2 * n))
    [ "$requests" -ge 4 ] || requests=4
    echo "== $n at once, $requests checkouts"
    REQUESTS=$requests CONCURRENCY=$n SHOP_LOAD_OUT="$HERE/load/n$n" bash "$HERE/gen-shop.sh"
done
