#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) with seed corpora made from the bundled
# captures and OTLP bodies, and prints each target's execution count. A crash stops its target
# and leaves the input in fuzz/artifacts/TARGET/; the script then exits 1.
#   bash fuzz/run.sh [SECONDS] [TARGET…]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frames capture_file otlp_body)
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz

corpus=fuzz/corpus
mkdir -p "$corpus/frames" "$corpus/capture_file" "$corpus/otlp_body"
python3 - "$corpus" <<'PY'
import glob, os, struct, sys
corpus = sys.argv[1]
links = {1: 0, 113: 1, 276: 2, 101: 3, 0: 4, 108: 5}  # the order of LINKS in frames.rs
for path in sorted(glob.glob('pcaps/**/*.pcap', recursive=True)):
    data = open(path, 'rb').read()
    name = path.replace('/', '-')
    open(f'{corpus}/capture_file/{name}', 'wb').write(data[:200_000])
    if data[:4] != b'\xd4\xc3\xb2\xa1':
        continue
    # frames: a link-type byte, then big-endian length-prefixed frames (first 60 kB).
    out = bytearray([links.get(struct.unpack('<I', data[20:24])[0], 0)])
    pos = 24
    while pos + 16 <= len(data) and len(out) < 60_000:
        incl = struct.unpack('<I', data[pos + 8:pos + 12])[0]
        out += struct.pack('>H', incl) + data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
    open(f'{corpus}/frames/{name}', 'wb').write(out)
for path in sorted(glob.glob('pcaps/**/*.pcapng', recursive=True)):
    open(f"{corpus}/capture_file/{path.replace('/', '-')}", 'wb').write(open(path, 'rb').read()[:200_000])
for path in sorted(glob.glob('pcaps/shop/otlp/*.pb')):
    open(f'{corpus}/otlp_body/{os.path.basename(path)}', 'wb').write(b'\x00' + open(path, 'rb').read())
PY

status=0
for t in "${targets[@]}"; do
    log=fuzz/$t.log
    if cargo fuzz run -O --sanitizer none "$t" "$corpus/$t" -- \
        -max_total_time="$secs" -max_len=262144 >"$log" 2>&1; then
        echo "$t: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1), no crash"
    else
        echo "$t: CRASH, see $log and fuzz/artifacts/$t/"
        status=1
    fi
done
exit $status
