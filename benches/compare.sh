#!/usr/bin/env bash
# wirespan against tshark and the read floor, on the same files, in one run.
#
#   bash benches/compare.sh [FILE…]
#
# Without FILEs: the bundled captures of every protocol, and any workloads in target/workloads/.
# For each file, best of 3 wall-clock runs (tshark: 1) of
#   spans      `wirespan replay FILE --discard`: decode, flows, reassembly, parsers, spans built
#              and counted, none encoded (the pipeline the targets of issue #8 are about);
#   +json      `wirespan replay FILE -o /dev/null`: the same, each span also written as OTLP/JSON;
#   2 workers  `… --discard --workers 2`: two threads each read the file and take half the flows;
#   tshark     `tshark -r FILE` dissecting HTTP, HTTP/2 and gRPC (its ports decoded as http2),
#              MySQL, PostgreSQL, Redis (RESP), DNS and VXLAN, printing the same fields wirespan
#              puts on its spans (PostgreSQL on 5432, RESP on 6379 and DNS on 53 are tshark's
#              own ports: no decode-as needed);
#   tcpdump    `tcpdump -r FILE -w /dev/null`: read and write every record, nothing else;
#   floor      wirespan's own record iterator (benches/floor.rs): map the file, walk records
#              (each a whole process, timed the same way);
# then packets/s and MB/s (of the spans run, one core), and the ratios tshark/spans,
# spans/tcpdump and spans/floor.
#
#   BEFORE=path/to/older/wirespan bash benches/compare.sh
#
# also times an older build's spans run (best of 3) in the same run, and prints after/before.
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
  -e mysql.query -e mysql.error_code -e mysql.num_rows
  -e pgsql.parameter_name -e pgsql.parameter_value -e pgsql.query -e pgsql.statement
  -e pgsql.tag -e pgsql.code -e pgsql.message
  -e resp.bulk_string.value -e resp.error
  -e dns.id -e dns.qry.name -e dns.qry.type -e dns.flags.rcode -e dns.count.answers)
tshark_decode=(-d tcp.port==50051,http2 -d tcp.port==9000,http2)

before=${BEFORE:-}
printf '%-26s %9s %7s | %7s %9s %7s | %7s %9s | %8s %7s | %7s %7s %5s %5s%s\n' \
  file packets MB spans packets/s MB/s +json '2 workers' tshark ×tshark tcpdump floor ×tcpd ×floor \
  "${before:+ |  before  after/before}"
for f in "${files[@]}"; do
  read -r _ packets bytes _ < <("$floor_bin" "$f")
  floor_s=$(best_of 3 "$floor_bin" "$f")
  spans_s=$(best_of 3 "$ws" replay "$f" --discard)
  json_s=$(best_of 3 "$ws" replay "$f" -o /dev/null)
  two_s=$(best_of 3 "$ws" replay "$f" --discard --workers 2)
  td_s=$(best_of 3 tcpdump -r "$f" -w /dev/null)
  ts_s=$(best_of 1 tshark -n -r "$f" "${tshark_decode[@]}" "${tshark_fields[@]}")
  before_s=0
  [ -n "$before" ] && before_s=$(best_of 3 "$before" replay "$f" --discard)
  python3 - "$f" "$packets" "$bytes" "$spans_s" "$json_s" "$two_s" "$ts_s" "$td_s" "$floor_s" "$before_s" <<'PY'
import os, sys
f, packets, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spans, json, two, ts, td, floor, before = map(float, sys.argv[4:])
tail = f" | {before:6.3f}s {spans / before:12.3f}" if before else ""
print(f"{os.path.basename(f):26} {packets:9d} {size / 1e6:7.1f} | {spans:6.3f}s {packets / spans:9.0f} {size / 1e6 / spans:7.1f}"
      f" | {json:6.3f}s {two:8.3f}s | {ts:7.2f}s {ts / spans:7.1f} | {td:6.3f}s {floor:6.3f}s {spans / td:5.2f} {spans / floor:5.1f}{tail}")
PY
done
