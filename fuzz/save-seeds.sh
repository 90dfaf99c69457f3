#!/usr/bin/env bash
# Keeps a minimised corpus of each target in fuzz/seeds/TARGET/ (committed, replayed by
# tests/fuzz_corpus.rs on stable Rust): the inputs of fuzz/corpus/TARGET up to MAX_BYTES
# (default 600) that add coverage, as libFuzzer's merge picks them. Run after fuzz/run.sh.
#   [MAX_BYTES=600] bash fuzz/save-seeds.sh [TARGET…]
set -euo pipefail
cd "$(dirname "$0")/.."
max=${MAX_BYTES:-600}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frames capture pcap pcapng reassembly stream http1 http2 mysql pgsql redis dns dns_udp tls tls_wire tls_decrypt grpc hpack otlp_body)
bin=fuzz/target/x86_64-unknown-linux-gnu/release
for t in "${targets[@]}"; do
    small=$(mktemp -d)
    find "fuzz/corpus/$t" -type f -size -"$((max + 1))"c -exec cp {} "$small/" \;
    rm -rf "fuzz/seeds/$t"
    mkdir -p "fuzz/seeds/$t"
    "$bin/$t" -merge=1 "fuzz/seeds/$t" "$small" >"fuzz/$t.merge.log" 2>&1
    rm -rf "$small"
    echo "$t: $(ls "fuzz/seeds/$t" | wc -l) inputs, $(du -sk "fuzz/seeds/$t" | cut -f1) kB"
done
