#!/usr/bin/env bash
# wirespan against tshark and the read floor, on the same files, in one run.
#
#   bash benches/compare.sh [FILE…]
#
# Without FILEs: the bundled captures of every protocol, and any workloads in target/workloads/.
# For each file, best of 3 wall-clock runs (tshark: 1) of
#   wirespan   `wirespan replay FILE -o /dev/null`: decode, flows, reassembly, parsers, spans;
#   tshark     `tshark -r FILE` dissecting HTTP, HTTP/2 and gRPC (its ports decoded as http2),
#              MySQL and VXLAN, printing the same fields wirespan puts on its spans;
#   tcpdump    `tcpdump -r FILE -w /dev/null`: read and write every record, nothing else;
#   floor      wirespan's own record iterator (benches/floor.rs): map the file, walk records
#              (each a whole process, timed the same way);
# then packets/s and MB/s per core, and the ratios tshark/wirespan and wirespan/floor.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
cargo bench --no-run --quiet --bench floor 2>/dev/null
floor_bin=$(ls -t target/release/deps/floor-* | grep -v '\.d$' | head -1)
ws=target/release/wirespan

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(pcaps/http/underlay-vxlan.pcap pcaps/grpc/underlay-vxlan.pcap pcaps/mysql/underlay-vxlan.pcap)
  shopt -s nullglob
  files+=(target/workloads/*.pcap)
fi

best_of() { # N COMMAND… → the best wall-clock seconds of N runs
  local n=$1 best=
  shift
  for _ in $(seq "$n"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    best=$(python3 -c "print(min(x for x in [$t1 - $t0, ${best:-1e9}]))")
  done
  echo "$best"
}

tshark_fields=(-T fields -e frame.number -e vxlan.vni -e http.request.method -e http.request.uri
  -e http.host -e http.response.code -e http.content_length -e http2.streamid
  -e http2.header.name -e http2.header.value -e grpc.message_length -e mysql.command
  -e mysql.query -e mysql.error_code -e mysql.num_rows)
tshark_decode=(-d tcp.port==50051,http2 -d tcp.port==9000,http2)

printf '%-34s %10s %8s | %9s %11s %9s | %9s %8s | %9s %9s %8s\n' \
  file packets MB wirespan packets/s MB/s tshark ×faster tcpdump floor ×floor
for f in "${files[@]}"; do
  read -r _ packets bytes _ < <("$floor_bin" "$f")
  floor_s=$(best_of 3 "$floor_bin" "$f")
  ws_s=$(best_of 3 "$ws" replay "$f" -o /dev/null)
  td_s=$(best_of 3 tcpdump -r "$f" -w /dev/null)
  ts_s=$(best_of 1 tshark -n -r "$f" "${tshark_decode[@]}" "${tshark_fields[@]}")
  python3 - "$f" "$packets" "$bytes" "$ws_s" "$ts_s" "$td_s" "$floor_s" <<'PY'
import os, sys
f, packets, size, ws, ts, td, floor = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *map(float, sys.argv[4:])
print(f"{os.path.basename(f):34} {packets:10d} {size / 1e6:8.1f} | {ws:8.3f}s {packets / ws:11.0f} {size / 1e6 / ws:9.1f}"
      f" | {ts:8.3f}s {ts / ws:8.1f} | {td:8.3f}s {floor:8.3f}s {ws / floor:8.1f}")
PY
done
