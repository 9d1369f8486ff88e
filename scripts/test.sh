#!/usr/bin/env bash
# The ONE command that builds and runs the whole test suite (CI runs it via .ci/run):
#   setup -> rustfmt -> clippy -> cargo test (core) -> ruff check/format -> MariaDB -> pytest
#   -> bench smoke. The MariaDB server is started (scripts/mariadb.sh) unless DJ_HOST is set, and
#   stopped at exit if this run started it. Likewise the S3-protocol server of the external-store
#   tests (scripts/s3server.sh) unless DJ_S3_ENDPOINT is set.
# Stops at the first failure with a non-zero exit. Extra arguments go to pytest, e.g.
#   bash scripts/test.sh -k blob -x
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
VENV="$REPO/.venv"
# Build pyo3 against the venv's interpreter everywhere (clippy, maturin) so they agree.
export PYO3_PYTHON="$VENV/bin/python"

T_START=$SECONDS
STEP_T0=$SECONDS
STEP_NAME=""
finish_step() {
    if [ -n "$STEP_NAME" ]; then
        printf '[test] %s: ok (%ss)\n' "$STEP_NAME" "$((SECONDS - STEP_T0))"
    fi
    STEP_NAME=""
}
step() {
    finish_step
    STEP_NAME="$1"
    STEP_T0=$SECONDS
    printf '\n==============================================================================\n'
    printf '==> %s\n' "$1"
    printf '==============================================================================\n'
}
MARIADB_STARTED=0
S3SERVER_STARTED=0
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '\n[test] FAILED at step "%s" (exit %s) after %ss\n' "$STEP_NAME" "$rc" \
            "$((SECONDS - T_START))" >&2
    fi
    # stop the database server only if this run started it (a reused one keeps running)
    if [ "$MARIADB_STARTED" = 1 ]; then
        bash "$REPO/scripts/mariadb.sh" stop || true
    fi
    if [ "$S3SERVER_STARTED" = 1 ]; then
        bash "$REPO/scripts/s3server.sh" stop || true
    fi
}
trap on_exit EXIT

step "setup (scripts/setup.sh)"
bash "$REPO/scripts/setup.sh"

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test -p datajoint-core"
cargo test -p datajoint-core

step "ruff check ."
"$VENV/bin/ruff" check .

step "ruff format --check ."
"$VENV/bin/ruff" format --check .

# The integration tests need a MySQL-compatible server: with DJ_HOST already set, that one;
# otherwise our own MariaDB (scripts/mariadb.sh, on 127.0.0.1:${MARIADB_PORT:-3306}).
if [ -n "${DJ_HOST:-}" ]; then
    echo "[test] DJ_HOST=$DJ_HOST is set: testing against that server"
else
    step "start MariaDB (scripts/mariadb.sh start)"
    mariadb_state="$(bash "$REPO/scripts/mariadb.sh" start)" # "started" or "reused"
    if [ "$mariadb_state" = started ]; then
        MARIADB_STARTED=1
    fi
    DJ_HOST=127.0.0.1
    if [ "${MARIADB_PORT:-3306}" != 3306 ]; then
        DJ_HOST="127.0.0.1:$MARIADB_PORT"
    fi
fi
export DJ_HOST
export DJ_USER="${DJ_USER:-root}"
export DJ_PASS="${DJ_PASS:-${MARIADB_ROOT_PASSWORD:-password}}"

# The external-storage tests need an S3-protocol server: with DJ_S3_ENDPOINT already set, that
# one; otherwise our own (scripts/s3server.sh: moto's server on 127.0.0.1, authentication on).
if [ -n "${DJ_S3_ENDPOINT:-}" ]; then
    echo "[test] DJ_S3_ENDPOINT=$DJ_S3_ENDPOINT is set: testing S3 stores against that server"
else
    step "start the S3 server (scripts/s3server.sh start)"
    s3_state="$(bash "$REPO/scripts/s3server.sh" start)" # "started" or "reused"
    if [ "$s3_state" = started ]; then
        S3SERVER_STARTED=1
    fi
    eval "$(bash "$REPO/scripts/s3server.sh" env)"
fi
export DJ_S3_ENDPOINT DJ_S3_ACCESS_KEY DJ_S3_SECRET_KEY DJ_S3_BUCKET

step "pytest tests -q${*:+ $*}"
rc=0
"$VENV/bin/python" -m pytest tests -q "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "[test] ERROR: pytest collected no tests (exit 5); treating as a failure" >&2
    exit 1
elif [ "$rc" -ne 0 ]; then
    exit "$rc"
fi

# every benchmark once at its smallest size: they must keep running (figures: README, benches/)
for bench in blob tables fetch query external populate sqlite delete; do
    step "benchmark smoke run: benches/bench_$bench.py --quick"
    "$VENV/bin/python" "benches/bench_$bench.py" --quick
done

finish_step
printf '[test] all checks passed in %ss\n' "$((SECONDS - T_START))"
