#!/usr/bin/env bash
# s3server.sh - a throwaway S3-protocol server on 127.0.0.1 for the external-storage tests.
#
#   bash scripts/s3server.sh start   start moto's standalone S3 server with authentication on
#                                    (or reuse one of ours that already accepts our key); make
#                                    the test bucket. Prints "started" or "reused" on stdout.
#   bash scripts/s3server.sh stop    stop the server this script started (by its pid file).
#   bash scripts/s3server.sh status  exit 0 if our server answers and accepts our key.
#   bash scripts/s3server.sh env     print `export DJ_S3_ENDPOINT=... DJ_S3_ACCESS_KEY=...
#                                    DJ_S3_SECRET_KEY=... DJ_S3_BUCKET=...`,
#                                    for eval "$(bash scripts/s3server.sh env)".
#
# Debian has no MinIO server and CI has no Docker, so this is moto's server (pip "moto[server]",
# installed by scripts/setup.sh from pyproject's test extra), which speaks the S3 HTTP protocol:
# the minio client talks to it unchanged. With INITIAL_NO_AUTH_ACTION_COUNT=3, moto accepts
# three unauthenticated calls and then checks every request's signature; this script spends
# the three calls creating an IAM user with an s3:* inline policy and an access key, so from
# then on a wrong key is refused (InvalidAccessKeyId) and credential tests are real.
# moto keeps everything in memory: size test data accordingly. It exits ~2 s after SIGTERM.
#
# Settings (environment):
#   S3SERVER_DIR   state folder (pid, log, credentials)   /tmp/datajoint_rs-s3server
#   S3SERVER_PORT  TCP port, bound to 127.0.0.1           9000
#   S3SERVER_BUCKET  bucket made at start                 datajoint-test
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=${S3SERVER_PYTHON:-$REPO/.venv/bin/python}
STATE=${S3SERVER_DIR:-/tmp/datajoint_rs-s3server}
PORT=${S3SERVER_PORT:-9000}
ADDR=127.0.0.1
BUCKET=${S3SERVER_BUCKET:-datajoint-test}
PIDFILE=$STATE/moto.pid
LOG=$STATE/moto.log
CREDS=$STATE/credentials # "access_key secret_key"
TIMEOUT=30

say() { printf '[s3server.sh] %s\n' "$*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

running_pid() {
    [ -s "$PIDFILE" ] || return 1
    local pid
    pid=$(<"$PIDFILE")
    kill -0 "$pid" 2>/dev/null || return 1
    # guard against a recycled pid: it must be a moto server on our port
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "moto_server.*-p $PORT" || return 1
    printf '%s\n' "$pid"
}

answers() { "$PY" - "$ADDR:$PORT" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(f"http://{sys.argv[1]}/moto-api/", timeout=2).read()
PY
}

# exit 0 if the server accepts our stored key (and make the bucket)
accepts_key() {
    [ -s "$CREDS" ] || return 1
    local access secret
    read -r access secret <"$CREDS"
    "$PY" - "$ADDR:$PORT" "$access" "$secret" "$BUCKET" <<'PY' >/dev/null 2>&1
import sys
import minio
endpoint, access, secret, bucket = sys.argv[1:]
client = minio.Minio(endpoint, access_key=access, secret_key=secret, secure=False)
if not client.bucket_exists(bucket):
    client.make_bucket(bucket)
PY
}

# spend the three unauthenticated calls: IAM user, s3:* inline policy, access key
make_credentials() {
    "$PY" - "http://$ADDR:$PORT" >"$CREDS.tmp" <<'PY'
import json, sys
import boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="datajoint")
iam.put_user_policy(
    UserName="datajoint", PolicyName="s3-all",
    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
)
key = iam.create_access_key(UserName="datajoint")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
PY
    mv "$CREDS.tmp" "$CREDS"
}

do_start() {
    mkdir -p "$STATE"
    if running_pid >/dev/null && accepts_key; then
        say "reusing the S3 server on $ADDR:$PORT"
        echo reused
        return 0
    fi
    if running_pid >/dev/null; then do_stop; fi
    if answers; then
        fail "another server answers on $ADDR:$PORT; stop it or set S3SERVER_PORT"
    fi
    [ -x "$(dirname "$PY")/moto_server" ] || fail "moto_server not found next to $PY (pip install 'moto[server]')"
    rm -f "$CREDS"
    # a plain background command, so that $! is the server's pid; setsid: it outlives us
    INITIAL_NO_AUTH_ACTION_COUNT=3 setsid "$(dirname "$PY")/moto_server" -H "$ADDR" -p "$PORT" \
        </dev/null >"$LOG" 2>&1 &
    local pid=$!
    echo "$pid" >"$PIDFILE"
    local deadline=$(($(date +%s) + TIMEOUT))
    until answers; do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$LOG" >&2; fail "moto_server exited (log: $LOG)"; }
        [ "$(date +%s)" -lt "$deadline" ] || fail "moto_server not ready after ${TIMEOUT} s (log: $LOG)"
        sleep 0.1
    done
    make_credentials || fail "could not create the IAM user and key (log: $LOG)"
    accepts_key || fail "the server refuses the key just created (log: $LOG)"
    say "moto_server (pid $pid) ready on $ADDR:$PORT, bucket $BUCKET"
    echo started
}

do_stop() {
    local pid
    if ! pid=$(running_pid); then
        say "no S3 server started from $STATE is running"
        return 0
    fi
    kill "$pid"
    local _
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PIDFILE"
            say "stopped moto_server (pid $pid)"
            return 0
        fi
        sleep 0.1
    done
    fail "moto_server (pid $pid) still running 10 s after SIGTERM"
}

do_status() {
    if running_pid >/dev/null && accepts_key; then
        say "up on $ADDR:$PORT"
        return 0
    fi
    say "no S3 server of ours on $ADDR:$PORT"
    return 1
}

do_env() {
    [ -s "$CREDS" ] || fail "no credentials: run '$0 start' first"
    local access secret
    read -r access secret <"$CREDS"
    echo "export DJ_S3_ENDPOINT=$ADDR:$PORT DJ_S3_ACCESS_KEY=$access DJ_S3_SECRET_KEY=$secret DJ_S3_BUCKET=$BUCKET"
}

case "${1:-start}" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
env) do_env ;;
*)
    echo "usage: $0 {start|stop|status|env}" >&2
    exit 2
    ;;
esac
