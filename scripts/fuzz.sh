#!/usr/bin/env bash
# Fuzz the blob decoder and the compression envelopes (rust/fuzz, see its README).
# Not part of CI.
#
#   scripts/fuzz.sh [SECONDS]     run each target for SECONDS (default 300), one after the other
#
# Environment: FUZZ_SANITIZER=address|none (default: address, falling back to none if the
# ASan build fails), FUZZ_PARALLEL=1 to run both targets at once (2+ idle cores only),
# FUZZ_ARGS="..." extra libFuzzer flags.
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 unlocks the -Z flags cargo-fuzz passes.
set -euo pipefail

secs=${1:-300}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/rust/fuzz"
export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

san=${FUZZ_SANITIZER:-address}
if ! nice -n 19 cargo fuzz build --fuzz-dir . -s "$san"; then
    [ "$san" = none ] && exit 1
    echo "fuzz.sh: build with -s $san failed, falling back to -s none" >&2
    san=none
    nice -n 19 cargo fuzz build --fuzz-dir . -s none
fi

run() {
    local t=$1
    mkdir -p "corpus/$t" "artifacts/$t" logs
    # corpus/$t collects new inputs; seeds/$t (committed) is read only.
    local rc=0
    nice -n 19 cargo fuzz run --fuzz-dir . -s "$san" "$t" "corpus/$t" "seeds/$t" -- \
        -max_len=65536 -rss_limit_mb=2048 -timeout=10 -max_total_time="$secs" \
        -print_final_stats=1 ${FUZZ_ARGS:-} >"logs/$t.log" 2>&1 || rc=$?
    grep -E '^#[0-9]+.*DONE|^stat::number_of_executed_units|^Done ' "logs/$t.log" | sed "s/^/$t: /" || true
    if [ $rc -ne 0 ]; then
        echo "$t: FAILED (exit $rc), see rust/fuzz/logs/$t.log and rust/fuzz/artifacts/$t/" >&2
    fi
    return $rc
}

status=0
if [ "${FUZZ_PARALLEL:-0}" = 1 ]; then
    run decode & p1=$!
    run decompress & p2=$!
    wait $p1 || status=1
    wait $p2 || status=1
else
    run decode || status=1
    run decompress || status=1
fi
exit $status
