#!/usr/bin/env bash
# Verify shop.expected.json against the captures and the recorded OTLP bodies.
# Exits non-zero on any mismatch.
#
#   bash pcaps/shop/check.sh [DIR]     (DIR: another copy of the outputs)
#
# Needs tshark (Wireshark 4.0 tested) and python3 with opentelemetry-proto
# (pip install opentelemetry-proto); no root, no network.  The checks are in
# check_shop.py (see its docstring for the list).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v tshark >/dev/null || { echo "check.sh: needs tshark" >&2; exit 1; }
python3 -c 'import opentelemetry.proto' 2>/dev/null || {
    echo "check.sh: needs python3 opentelemetry-proto (pip install opentelemetry-proto)" >&2; exit 1; }
exec python3 -B "$HERE/check_shop.py" "$@"
