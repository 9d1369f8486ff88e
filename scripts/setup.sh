#!/usr/bin/env bash
# Set up everything datajoint_rs needs to build and test, on a fresh Debian 12 machine or an
# already-prepared one (idempotent; a second run takes seconds):
#   - system packages (apt) that the build prefers,
#   - the Rust components the checks use (clippy, rustfmt),
#   - a virtualenv at $REPO/.venv with maturin and the test/bench/dev dependencies,
#   - our extension, built with `maturin develop --release` into that venv (always re-run:
#     cargo's incremental build makes it fast when nothing changed).
#
# Env knobs:
#   PYTHON=...            interpreter used to create the venv (default: python3)
#   SETUP_FORCE_PIP=1     reinstall Python requirements even if the stamp says they are current
#   SETUP_SKIP_BUILD=1    skip the maturin build (e.g. when only the Python deps are wanted)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.datajoint_rs-setup.stamp"

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# ensure_apt_packages PKG...
#   Installs the given Debian packages if (and only if) some are missing, checked with dpkg.
#   Runs `apt-get update` at most once per setup.sh run. Non-interactive (CI has no stdin).
#   Without root (and without sudo) it warns and carries on, since nothing installed here yet is
#   strictly required here (but mysqlclient will not build, nor the DB tests run, without the
#   MariaDB packages).
# ---------------------------------------------------------------------------------------------
_APT_UPDATED=0
ensure_apt_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        log "no dpkg on this machine; not checking system packages: $*"
        return 0
    fi
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "system packages present: $*"
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            log "WARNING: missing system packages (${missing[*]}) and no root/sudo to install them"
            return 0
        fi
    fi
    log "installing system packages: ${missing[*]}"
    if [ "$_APT_UPDATED" -eq 0 ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _APT_UPDATED=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" </dev/null
}

# ---------------------------------------------------------------------------------------------
# Rust toolchain components (clippy, rustfmt). Only calls rustup when one is missing, so an
# offline run on a prepared machine never touches the network.
# ---------------------------------------------------------------------------------------------
ensure_rust_components() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH (install Rust stable via rustup)"
    local need=()
    cargo clippy --version >/dev/null 2>&1 || need+=(clippy)
    cargo fmt --version >/dev/null 2>&1 || need+=(rustfmt)
    if [ "${#need[@]}" -gt 0 ]; then
        command -v rustup >/dev/null 2>&1 || die "missing Rust components (${need[*]}) and no rustup"
        log "adding Rust components: ${need[*]}"
        rustup component add "${need[@]}"
    fi
    log "$(rustc --version); $(cargo clippy --version); $(cargo fmt --version)"
}

# ---------------------------------------------------------------------------------------------
# Python virtualenv
# ---------------------------------------------------------------------------------------------
ensure_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        return 0
    fi
    [ -e "$VENV" ] && { log "removing broken venv at $VENV"; rm -rf "$VENV"; }
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found"
    log "creating venv at $VENV with $("$PYTHON" --version 2>&1)"
    if ! "$PYTHON" -m venv "$VENV"; then
        # Debian's system python ships venv/ensurepip separately.
        rm -rf "$VENV"
        ensure_apt_packages python3-venv
        "$PYTHON" -m venv "$VENV"
    fi
}

# The requirement list: a fixed baseline plus whatever pyproject.toml declares as runtime
# dependencies and in its test/bench/dev extras (so adding a dep there is enough).
requirements() {
    "$VENV/bin/python" - "$REPO/pyproject.toml" <<'EOF'
import sys
reqs = ["maturin>=1.7,<2", "numpy", "pytest", "hypothesis", "ruff", "zstandard", "datajoint==0.14.9"]
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: baseline only
    tomllib = None
if tomllib is not None:
    with open(sys.argv[1], "rb") as f:
        proj = tomllib.load(f).get("project", {})
    reqs += proj.get("dependencies", [])
    extras = proj.get("optional-dependencies", {})
    for name in ("test", "bench", "dev"):
        reqs += extras.get(name, [])
for r in sorted(set(reqs)):
    print(r)
EOF
}

ensure_python_deps() {
    local reqs key
    reqs="$(requirements)"
    key="$( { printf '%s\n' "$reqs"; "$VENV/bin/python" -c 'import sys; print(sys.version)'; } \
        | sha256sum | cut -d' ' -f1)"
    if [ "${SETUP_FORCE_PIP:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ]; then
        log "python requirements up to date (stamp $STAMP)"
        return 0
    fi
    log "installing python requirements: ${reqs//$'\n'/ }"
    local pip=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input)
    "${pip[@]}" install -q --progress-bar off --upgrade pip
    local reqarr
    mapfile -t reqarr <<<"$reqs"
    "${pip[@]}" install -q --progress-bar off "${reqarr[@]}"
    printf '%s\n' "$key" >"$STAMP"
}

build_extension() {
    log "building the extension: maturin develop --release"
    (
        cd "$REPO"
        export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH"
        unset CONDA_PREFIX
        maturin develop --release
    )
    "$VENV/bin/python" -c 'import datajoint_rs._native as m; print("[setup] import ok:", m.__file__)'
}

main() {
    local t0=$SECONDS
    # zlib1g-dev: libz-sys prefers the system zlib. libmariadb-dev + pkg-config: mysqlclient
    # (a runtime dependency in pyproject.toml) builds from source against them. mariadb-server,
    # mariadb-client, openssl: the test server of scripts/mariadb.sh (which starts it itself).
    # graphviz: the `dot` program that renders dj.Diagram.
    ensure_apt_packages pkg-config zlib1g-dev libssl-dev libmariadb-dev mariadb-server mariadb-client openssl \
        graphviz
    ensure_rust_components
    ensure_venv
    ensure_python_deps
    if [ "${SETUP_SKIP_BUILD:-0}" = 1 ]; then
        log "SETUP_SKIP_BUILD=1: not building the extension"
    else
        build_extension
    fi
    log "done in $((SECONDS - t0))s"
}

main "$@"
