#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) with seed corpora made from the bundled
# captures and OTLP bodies (fuzz/seed.py), and prints each target's execution count. A crash
# or a hang (10 s) stops its target and leaves the input in fuzz/artifacts/TARGET/; the script
# then exits 1. With FUZZ_RUNS=N each target stops after N executions (or SECONDS, first).
#   [FUZZ_RUNS=10000000] bash fuzz/run.sh [SECONDS] [TARGET…]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frames capture pcap pcapng reassembly stream http1 http2 mysql pgsql redis dns dns_udp tls tls_wire tls_decrypt grpc hpack otlp_body)
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz

corpus=fuzz/corpus
python3 fuzz/seed.py "$corpus"

cargo fuzz build -O --debug-assertions --sanitizer none
bin=fuzz/target/x86_64-unknown-linux-gnu/release
status=0
for t in "${targets[@]}"; do
    log=fuzz/$t.log
    mkdir -p "fuzz/artifacts/$t"
    if "$bin/$t" "$corpus/$t" -max_total_time="$secs" -runs="${FUZZ_RUNS:--1}" -max_len=65536 -timeout=10 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1; then
        echo "$t: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1), no crash"
    else
        echo "$t: CRASH, see $log and fuzz/artifacts/$t/"
        status=1
    fi
done
exit $status
