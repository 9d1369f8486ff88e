#!/usr/bin/env bash
# The newcomer's "main job": set everything up, then run the full blob benchmark
# (datajoint_rs vs the reference datajoint 0.14.9). Extra arguments go to the benchmark.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash "$REPO/scripts/setup.sh"

if [ ! -f benches/bench_blob.py ]; then
    echo "[demo] benches/bench_blob.py not found" >&2
    exit 1
fi
echo "==> benches/bench_blob.py $*"
exec "$REPO/.venv/bin/python" benches/bench_blob.py "$@"
