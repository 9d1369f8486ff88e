#!/usr/bin/env bash
# mariadb.sh - a private, throwaway MariaDB server for the datajoint_rs test suite.
#
#   bash scripts/mariadb.sh start    start a server (or reuse one that already accepts our root
#                                    login on the port), then make sure the test users exist.
#                                    Prints "started" or "reused" on stdout (all else: stderr).
#   bash scripts/mariadb.sh stop     stop the server this script started (found by its pid file).
#   bash scripts/mariadb.sh status   exit 0 if a server accepts our root login, 1 otherwise.
#   bash scripts/mariadb.sh env      print `export DJ_HOST=... DJ_USER=... DJ_PASS=...`,
#                                    for eval "$(bash scripts/mariadb.sh env)".
#   bash scripts/mariadb.sh purge    stop, then delete the state folder.
#
# Installs nothing: it needs Debian's mariadb-server and mariadb-client (scripts/setup.sh installs
# them) and openssl. Runs without systemd, as root or as any user that may write the state folder.
#
# The server is set up the way DataJoint expects a production server to be:
#   - utf8mb4 server character set (the compiled-in default would be latin1);
#   - max_allowed_packet = 1G (the maximum; the 16M default rejects large blob inserts);
#   - TLS with a self-signed certificate, so that use_tls=True/None connect encrypted;
#   - @@version reported as a bare "10.11.19": DataJoint 0.14 (and code ported from it) feeds
#     @@version to packaging.version.parse, which rejects "10.11.19-MariaDB-0+deb12u1";
#   - durability traded for speed (the data is disposable);
#   - a 4 GB buffer pool and 1 GB redo log, so that the benchmarks' 1 GB blob tables stay in
#     memory, as on a warm production server (with 256 MB every fetch of them read the disk:
#     the bare transfer took 4 s instead of 1, and a server-side copy 4.8 s instead of 1).
# Accounts: root/<password> from anywhere (what the tests use, via DJ_USER/DJ_PASS), and a
# restricted user with ALL PRIVILEGES on `djtest%` schemas only (for access-denied tests).
#
# Timing on the 2-core dev machine (measured with other builds running, so upper bounds): first
# start (datadir init + boot) 3-6 s (~1.2 s on an idle machine), start on a kept datadir 0.5-0.8 s,
# reuse of a live server 0.15 s, stop 1.3 s.
#
# Settings (environment):
#   MARIADB_DIR            state folder (data, config, socket, log, cert)  /tmp/datajoint_rs-mariadb
#   MARIADB_PORT           TCP port, bound to 127.0.0.1                    3306
#   MARIADB_ROOT_PASSWORD  root password                                   password
#   MARIADB_DJ_USER        restricted user                                 datajoint
#   MARIADB_DJ_PASSWORD    its password                                    datajoint
#   MARIADB_DJ_SCHEMAS     LIKE pattern of the schemas it may use          djtest%
#   MARIADB_TLS            1: self-signed TLS; 0: no TLS                   1
#   MARIADB_PLAIN_VERSION  1: bare @@version; 0: Debian's version string   1
#   MARIADB_READY_TIMEOUT  seconds to wait for the server to come up       60
set -euo pipefail

STATE=${MARIADB_DIR:-/tmp/datajoint_rs-mariadb}
PORT=${MARIADB_PORT:-3306}
ADDR=127.0.0.1
ROOT_PW=${MARIADB_ROOT_PASSWORD:-password}
DJ_USER_NAME=${MARIADB_DJ_USER:-datajoint}
DJ_USER_PW=${MARIADB_DJ_PASSWORD:-datajoint}
DJ_SCHEMAS=${MARIADB_DJ_SCHEMAS:-djtest%}
WITH_TLS=${MARIADB_TLS:-1}
PLAIN_VERSION=${MARIADB_PLAIN_VERSION:-1}
TIMEOUT=${MARIADB_READY_TIMEOUT:-60}

DATADIR=$STATE/data
CONF=$STATE/my.cnf
SOCKET=$STATE/mysqld.sock
PIDFILE=$STATE/mysqld.pid
ERRLOG=$STATE/mysqld.log

say() { printf '[mariadb.sh] %s\n' "$*" >&2; }
fail() { say "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v t0="$1" -v t1="$(now)" 'BEGIN { printf "%.2f", t1 - t0 }'; }

# --- talking to a server ---------------------------------------------------------------------
# as root over TCP with the password (any server that knows our credentials)
sql_tcp() {
    mariadb --no-defaults --protocol=tcp --host="$ADDR" --port="$PORT" --user=root \
        --password="$ROOT_PW" --connect-timeout=3 "$@"
}
# as root over our own socket: OS root gets in through unix_socket auth; another OS user with
# the password, which is empty on a fresh datadir (SOCKET_PW is set by do_start)
SOCKET_PW=$ROOT_PW
sql_socket() {
    if [ "$(id -u)" -eq 0 ]; then
        mariadb --no-defaults --socket="$SOCKET" --user=root "$@"
    else
        mariadb --no-defaults --socket="$SOCKET" --user=root --password="$SOCKET_PW" "$@"
    fi
}

accepts_root() { sql_tcp --batch --skip-column-names -e 'SELECT 1' >/dev/null 2>&1; }
# mariadb-admin ping succeeds whenever a server is listening, even if it rejects the login
port_in_use() {
    mariadb-admin --no-defaults --protocol=tcp --host="$ADDR" --port="$PORT" \
        --connect-timeout=2 ping >/dev/null 2>&1
}

# pid of the server started by this script from this state folder, if it is alive
running_pid() {
    [ -s "$PIDFILE" ] || return 1
    local pid
    pid=$(<"$PIDFILE")
    kill -0 "$pid" 2>/dev/null || return 1
    # guard against a recycled pid: it must be a mariadbd reading our config
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--defaults-file=$CONF" || return 1
    printf '%s\n' "$pid"
}

# --- setup -----------------------------------------------------------------------------------
make_cert() {
    [ -s "$STATE/tls-key.pem" ] && [ -s "$STATE/tls-cert.pem" ] && return 0
    command -v openssl >/dev/null || fail "openssl is needed for MARIADB_TLS=1"
    # names the server as the tests reach it, so clients that verify the certificate (with
    # this file as their CA) accept it
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$STATE/tls-key.pem" -out "$STATE/tls-cert.pem" >/dev/null 2>&1 \
        || fail "openssl could not make a self-signed certificate"
}

write_conf() {
    mkdir -p "$STATE"
    {
        echo "# generated by scripts/mariadb.sh; used only through --defaults-file"
        echo "[mysqld]"
        [ "$(id -u)" -eq 0 ] && echo "user = root"
        echo "datadir = $DATADIR"
        echo "socket = $SOCKET"
        echo "pid-file = $PIDFILE"
        echo "log-error = $ERRLOG"
        echo "bind-address = $ADDR"
        echo "port = $PORT"
        if [ "$PLAIN_VERSION" = 1 ]; then
            echo "version = $(mariadbd --version | grep -o 'Ver [0-9][0-9.]*' | cut -d' ' -f2)"
        fi
        echo "character-set-server = utf8mb4"
        echo "collation-server = utf8mb4_general_ci"
        echo "max_allowed_packet = 1G"
        echo "innodb_buffer_pool_size = 4G"
        echo "innodb_log_file_size = 1G"
        echo "innodb_flush_log_at_trx_commit = 0"
        echo "innodb_doublewrite = 0"
        echo "skip-name-resolve"
        if [ "$WITH_TLS" = 1 ]; then
            make_cert
            echo "ssl_cert = $STATE/tls-cert.pem"
            echo "ssl_key = $STATE/tls-key.pem"
        fi
    } >"$CONF"
}

init_datadir() {
    [ -d "$DATADIR/mysql" ] && return 1
    local t0
    t0=$(now)
    rm -rf "$DATADIR"
    # root@localhost: unix_socket auth for OS root; for another OS user, no password at first
    # (setup_users sets one right after the first boot either way)
    local auth=socket
    [ "$(id -u)" -eq 0 ] || auth=normal
    if ! mariadb-install-db --defaults-file="$CONF" --skip-test-db \
        --auth-root-authentication-method="$auth" >"$STATE/install-db.log" 2>&1; then
        tail -n 20 "$STATE/install-db.log" >&2
        fail "mariadb-install-db failed (log: $STATE/install-db.log)"
    fi
    say "initialised $DATADIR in $(since "$t0") s"
}

# (re)create the accounts; $1 is the function that runs SQL as root
setup_users() {
    "$1" <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('$ROOT_PW') OR unix_socket;
ALTER USER IF EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$ROOT_PW';
ALTER USER IF EXISTS 'root'@'::1' IDENTIFIED BY '$ROOT_PW';
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '$ROOT_PW';
ALTER USER 'root'@'%' IDENTIFIED BY '$ROOT_PW';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS '$DJ_USER_NAME'@'%' IDENTIFIED BY '$DJ_USER_PW';
ALTER USER '$DJ_USER_NAME'@'%' IDENTIFIED BY '$DJ_USER_PW';
REVOKE ALL PRIVILEGES, GRANT OPTION FROM '$DJ_USER_NAME'@'%';
GRANT ALL PRIVILEGES ON \`$DJ_SCHEMAS\`.* TO '$DJ_USER_NAME'@'%';
FLUSH PRIVILEGES;
SQL
}

wait_ready() {
    local pid=$1 deadline=$(($(date +%s) + TIMEOUT))
    until mariadb-admin --no-defaults --socket="$SOCKET" ping >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 25 "$ERRLOG" >&2 || true
            fail "mariadbd exited during startup (log: $ERRLOG)"
        fi
        [ "$(date +%s)" -lt "$deadline" ] || fail "mariadbd not ready after ${TIMEOUT} s (log: $ERRLOG)"
        sleep 0.05
    done
}

# --- subcommands -----------------------------------------------------------------------------
do_start() {
    local t0
    t0=$(now)
    if accepts_root; then
        setup_users sql_tcp
        say "reusing the server on $ADDR:$PORT ($(since "$t0") s)"
        echo reused
        return 0
    fi
    if port_in_use && ! running_pid >/dev/null; then
        fail "a server on $ADDR:$PORT rejects root/$ROOT_PW; stop it or set MARIADB_PORT"
    fi
    write_conf
    local fresh=0
    init_datadir && fresh=1 && SOCKET_PW=''
    local pid
    if ! pid=$(running_pid); then
        # setsid: the server must outlive this script and the shell that ran it
        setsid mariadbd --defaults-file="$CONF" </dev/null >>"$ERRLOG" 2>&1 &
        pid=$!
    fi
    wait_ready "$pid"
    if [ "$fresh" = 1 ] || ! accepts_root; then setup_users sql_socket; else setup_users sql_tcp; fi
    accepts_root || fail "root cannot log in over TCP after setup"
    say "mariadbd (pid $pid) ready on $ADDR:$PORT in $(since "$t0") s; log $ERRLOG"
    echo started
}

do_stop() {
    local pid
    if ! pid=$(running_pid); then
        say "no server started from $STATE is running"
        return 0
    fi
    kill "$pid"
    local _
    for _ in $(seq 600); do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "stopped mariadbd (pid $pid)"
            return 0
        fi
        sleep 0.1
    done
    fail "mariadbd (pid $pid) still running 60 s after SIGTERM"
}

do_status() {
    if accepts_root; then
        say "up on $ADDR:$PORT: $(sql_tcp --batch --skip-column-names -e 'SELECT @@version')"
        return 0
    fi
    say "no server accepting root/$ROOT_PW on $ADDR:$PORT"
    return 1
}

do_env() {
    local host=$ADDR
    [ "$PORT" = 3306 ] || host=$ADDR:$PORT # DataJoint takes the port as part of the host
    echo "export DJ_HOST=$host DJ_USER=root DJ_PASS=$ROOT_PW"
}

case "${1:-start}" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
env) do_env ;;
purge)
    do_stop
    rm -rf "$STATE"
    say "removed $STATE"
    ;;
*)
    echo "usage: $0 {start|stop|status|env|purge}" >&2
    exit 2
    ;;
esac
