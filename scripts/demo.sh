#!/usr/bin/env bash
# The newcomer's "main job": set everything up, then run the demo pipeline (demo/pipeline.py)
# on SQLite: no database server needed. Extra arguments go to the demo, e.g.
#   bash scripts/demo.sh --quick            # smaller recordings
#   bash scripts/demo.sh --path lab.sqlite  # keep the database in that file
# The benchmarks vs DataJoint 0.14.9 are in benches/ (see benches/README.md).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash "$REPO/scripts/setup.sh"

if [ ! -f demo/pipeline.py ]; then
    echo "[demo] demo/pipeline.py not found" >&2
    exit 1
fi
echo "==> demo/pipeline.py --backend sqlite $*"
exec "$REPO/.venv/bin/python" demo/pipeline.py --backend sqlite "$@"
