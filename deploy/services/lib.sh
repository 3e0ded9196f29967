# shellcheck shell=bash
# Shared paths and helpers for the deploy/services/*.sh scripts. Sourced, not run.
#
# Everything lives under one state dir (default ~/.cache/dc-services):
#   mariadb/   my.cnf, data/, mariadb.sock, mariadb.pid, mariadb.log
#   rocketmq/  lib/ (jars from Maven Central), home/ (java user.home: logs),
#              store/ (broker store), *.conf, *.pid, *.out (stdout/stderr of the JVMs)

export PATH="$PATH:/usr/sbin:/sbin"

DC_SERVICES_DIR="${DC_SERVICES_DIR:-$HOME/.cache/dc-services}"
DC_ROCKETMQ_TOPIC="${DC_ROCKETMQ_TOPIC:-dc-task-intents}"
# Tried in order; the first one that Maven can resolve is used (and remembered in lib/.version).
DC_ROCKETMQ_VERSIONS="${DC_ROCKETMQ_VERSIONS:-5.3.3 5.3.2 5.3.1}"
WAIT_SECONDS="${DC_SERVICES_WAIT_SECONDS:-120}"

MARIADB_DIR="$DC_SERVICES_DIR/mariadb"
MARIADB_DATA="$MARIADB_DIR/data"
MARIADB_CNF="$MARIADB_DIR/my.cnf"
MARIADB_SOCK="$MARIADB_DIR/mariadb.sock"
MARIADB_PID="$MARIADB_DIR/mariadb.pid"
MARIADB_LOG="$MARIADB_DIR/mariadb.log"
MARIADB_PORT=3306

RMQ_DIR="$DC_SERVICES_DIR/rocketmq"
RMQ_LIB="$RMQ_DIR/lib"
RMQ_USER_HOME="$RMQ_DIR/home"                    # -Duser.home: the jar-embedded logback configs log under it
RMQ_LOG_DIR="$RMQ_USER_HOME/logs/rocketmqlogs"
RMQ_STORE="$RMQ_DIR/store"
NAMESRV_CONF="$RMQ_DIR/namesrv.conf"
NAMESRV_PID="$RMQ_DIR/namesrv.pid"
NAMESRV_OUT="$RMQ_DIR/namesrv.out"
BROKER_CONF="$RMQ_DIR/broker.conf"
BROKER_PID="$RMQ_DIR/broker.pid"
BROKER_OUT="$RMQ_DIR/broker.out"
NAMESRV_PORT=9876
BROKER_PORT=10911
NAMESRV_ADDR="127.0.0.1:$NAMESRV_PORT"
BROKER_ADDR="127.0.0.1:$BROKER_PORT"

# Flags every RocketMQ JVM gets. ROCKETMQ_HOME (env) or -Drocketmq.home.dir must be set, else
# both servers exit with "Please set the ROCKETMQ_HOME variable"; nothing is read from it in
# our setup. Start/send/receive also worked without the --add-opens on Java 17 (5.3.3 frees
# direct buffers through Netty); they are kept as cheap insurance for other code paths.
RMQ_JAVA_OPTS=(
  -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED
  "-Duser.home=$RMQ_USER_HOME"
  "-Drocketmq.home.dir=$RMQ_DIR"
)

log() { printf '[dc-services] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp, no nc needed).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_alive PIDFILE PATTERN: the pid in PIDFILE is running AND its command line contains
# PATTERN (guards against a stale pid file whose pid was reused by something else).
pid_alive() {
  local pidfile=$1 pattern=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

# spawn PIDFILE LOGFILE CMD ARGS...: start CMD detached, in its own session (setsid), so
# it outlives this script and whatever job ran it; stdout/stderr are appended to LOGFILE.
# The inner shell records its own pid and then execs CMD, so PIDFILE holds CMD's pid.
spawn() {
  local pidfile=$1 logfile=$2 i
  shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016  # $$, $0 and $@ belong to the inner shell
  # Descriptors above 2 are closed first: a server must not inherit what its starter held
  # open (a lock file of `flock make test`, a test's pipes), or it holds them for its life.
  setsid bash -c 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; ((fd > 2)) && eval "exec $fd>&-"; done 2>/dev/null
    echo $$ >"$0"; exec nohup "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 &
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.1
  done
  die "could not start: $*"
}

# Process state letter from /proc (T = stopped, e.g. by pause-broker.sh).
pid_state() { awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# stop_pid NAME PIDFILE PATTERN GRACE_SECONDS: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local name=$1 pidfile=$2 pattern=$3 grace=$4 pid i
  if ! pid_alive "$pidfile" "$pattern"; then
    log "$name: not running"
    rm -f "$pidfile"
    return 0
  fi
  pid=$(<"$pidfile")
  # A SIGSTOPped process (pause-broker.sh) would only act on SIGTERM after SIGCONT.
  kill -CONT "$pid" 2>/dev/null || true
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: still alive after ${grace}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
  fi
  rm -f "$pidfile"
}

# show_logs FILE...: tail of each existing file, to stderr (used on failures).
show_logs() {
  local f
  for f in "$@"; do
    [[ -f $f ]] || continue
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
}

# wait_for DESC PIDFILE PATTERN "LOG1 LOG2" CMD ARGS...: run CMD every second until it
# succeeds, for at most $WAIT_SECONDS; fail early if the process behind PIDFILE died.
wait_for() {
  local desc=$1 pidfile=$2 pattern=$3 logs=$4
  shift 4
  local deadline=$((SECONDS + WAIT_SECONDS))
  # shellcheck disable=SC2086  # $logs is a space-separated list of paths without spaces
  until "$@"; do
    if ! pid_alive "$pidfile" "$pattern"; then
      show_logs $logs
      die "$desc: the process exited (see logs above)"
    fi
    if ((SECONDS >= deadline)); then
      show_logs $logs
      die "$desc: not ready after ${WAIT_SECONDS}s (see logs above)"
    fi
    sleep 1
  done
}

# ---------------------------------------------------------------- packages

APT_UPDATED=0
APT_LOG="$DC_SERVICES_DIR/apt.log"
apt_install() {
  local sudo=()
  [[ $EUID -eq 0 ]] || sudo=(sudo -n)
  command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
  mkdir -p "$DC_SERVICES_DIR"
  # Debian's maintainer scripts would try to start the system-wide server (on /var/lib/mysql,
  # port 3306) right after install; a policy-rc.d that exits 101 forbids that. Container images
  # usually have one already; if not, put one in place for the duration of the install only.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    added_policy=1
  fi
  if ((APT_UPDATED == 0)); then
    log "apt-get update"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >"$APT_LOG" 2>&1 ||
      { show_logs "$APT_LOG"; die "apt-get update failed"; }
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    </dev/null >>"$APT_LOG" 2>&1 || { show_logs "$APT_LOG"; die "apt-get install $* failed"; }
  if ((added_policy)); then "${sudo[@]}" rm -f "$policy"; fi
}

mariadbd_bin() {
  local b
  for b in mariadbd mysqld; do
    if command -v "$b" >/dev/null; then command -v "$b"; return 0; fi
  done
  return 1
}

# ---------------------------------------------------------------- MariaDB

# The `dc` user can log in over TCP to database dc.
mariadb_dc_ok() {
  command -v mariadb >/dev/null || return 1
  mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$MARIADB_PORT" -udc -pdc \
    --connect-timeout=3 dc -e 'SELECT 1' >/dev/null 2>&1
}

# Our own server answers on its socket (as the OS user, via unix_socket authentication).
mariadb_socket_ok() {
  mariadb-admin --no-defaults --socket="$MARIADB_SOCK" -u"$(id -un)" --connect-timeout=2 ping >/dev/null 2>&1
}

mariadb_write_config() {
  mkdir -p "$MARIADB_DATA"
  cat >"$MARIADB_CNF" <<EOF
# Generated by deploy/services/up.sh; rewritten on every start, edit the script instead.
[mysqld]
datadir=$MARIADB_DATA
socket=$MARIADB_SOCK
pid-file=$MARIADB_PID
log-error=$MARIADB_LOG
port=$MARIADB_PORT
bind-address=127.0.0.1
# TCP logins then match 'dc'@'127.0.0.1' directly (no reverse DNS lookups).
skip-name-resolve
max_connections=500
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
default-time-zone=+00:00
innodb_buffer_pool_size=256M
# Test database: survive a mariadbd crash (restart-mariadb.sh --kill), not an OS crash.
innodb_flush_log_at_trx_commit=2
EOF
}

mariadb_start() {
  local bin user
  bin=$(mariadbd_bin) || die "mariadbd not found"
  user=$(id -un)
  mariadb_write_config
  if [[ ! -d $MARIADB_DATA/mysql ]]; then
    log "MariaDB: initialising $MARIADB_DATA"
    # --user=<us>: the server runs as whoever runs this script (root here: /root is 0700, so a
    # separate mysql user could not reach the state dir). The install creates root@localhost
    # and <us>@localhost with unix_socket authentication, which is how we administer it.
    mariadb-install-db --defaults-file="$MARIADB_CNF" --user="$user" --skip-test-db \
      >"$MARIADB_DIR/install-db.log" 2>&1 </dev/null ||
      { show_logs "$MARIADB_DIR/install-db.log"; die "mariadb-install-db failed"; }
  fi
  if port_open "$MARIADB_PORT"; then
    die "port $MARIADB_PORT is already taken by another process (not our MariaDB: $MARIADB_SOCK does not answer)"
  fi
  log "MariaDB: starting on 127.0.0.1:$MARIADB_PORT"
  # mariadbd rewrites the same pid file (pid-file in my.cnf) with the same pid.
  spawn "$MARIADB_PID" "$MARIADB_LOG" "$bin" --defaults-file="$MARIADB_CNF" --user="$user"
  wait_for "MariaDB" "$MARIADB_PID" "$MARIADB_CNF" "$MARIADB_LOG" mariadb_socket_ok
}

mariadb_provision() {
  log "MariaDB: ensuring database dc and user dc"
  # `dc\_%`: databases whose name starts with "dc_" (tests create one per package).
  mariadb --no-defaults --socket="$MARIADB_SOCK" -u"$(id -un)" <<'SQL'
CREATE DATABASE IF NOT EXISTS dc CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'dc'@'127.0.0.1' IDENTIFIED BY 'dc';
CREATE USER IF NOT EXISTS 'dc'@'localhost' IDENTIFIED BY 'dc';
ALTER USER 'dc'@'127.0.0.1' IDENTIFIED BY 'dc';
ALTER USER 'dc'@'localhost' IDENTIFIED BY 'dc';
GRANT ALL ON dc.* TO 'dc'@'127.0.0.1', 'dc'@'localhost';
GRANT ALL ON `dc\_%`.* TO 'dc'@'127.0.0.1', 'dc'@'localhost';
FLUSH PRIVILEGES;
SQL
}

ensure_mariadb() {
  if ! mariadbd_bin >/dev/null || ! command -v mariadb-install-db >/dev/null || ! command -v mariadb >/dev/null; then
    apt_install mariadb-server mariadb-client
  fi
  mkdir -p "$MARIADB_DIR"
  if pid_alive "$MARIADB_PID" "$MARIADB_CNF" && mariadb_socket_ok; then
    log "MariaDB: already running (pid $(<"$MARIADB_PID"))"
  else
    mariadb_start
  fi
  mariadb_provision
  mariadb_dc_ok || die "MariaDB is up but user dc cannot log in over TCP"
}

# ---------------------------------------------------------------- RocketMQ

ensure_java_and_maven() {
  local pkgs=()
  command -v java >/dev/null || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || pkgs+=(maven)
  ((${#pkgs[@]} == 0)) || apt_install "${pkgs[@]}"
}

# Download namesrv + broker + tools and all their dependencies from Maven Central into lib/.
rocketmq_fetch() {
  [[ -s $RMQ_LIB/.version ]] && return 0
  local v tmp pomdir="$RMQ_DIR/fetch"
  mkdir -p "$pomdir"
  for v in $DC_ROCKETMQ_VERSIONS; do
    log "RocketMQ: fetching $v jars with Maven"
    tmp="$RMQ_DIR/lib.tmp"
    rm -rf "$tmp"
    cat >"$pomdir/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.dc-services</groupId>
  <artifactId>rocketmq-fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.rocketmq</groupId><artifactId>rocketmq-namesrv</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.apache.rocketmq</groupId><artifactId>rocketmq-broker</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.apache.rocketmq</groupId><artifactId>rocketmq-tools</artifactId><version>$v</version></dependency>
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.6.1</version>
  </plugin></plugins></build>
</project>
EOF
    if mvn -B -q -f "$pomdir/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" </dev/null >"$pomdir/mvn.log" 2>&1 &&
      ls "$tmp"/rocketmq-broker-"$v".jar >/dev/null 2>&1; then
      rm -rf "$RMQ_LIB"
      mv "$tmp" "$RMQ_LIB"
      echo "$v" >"$RMQ_LIB/.version"
      log "RocketMQ: $v, $(find "$RMQ_LIB" -name '*.jar' | wc -l) jars in $RMQ_LIB"
      return 0
    fi
    log "RocketMQ: $v could not be fetched (last lines of $pomdir/mvn.log follow)"
    tail -n 15 "$pomdir/mvn.log" >&2
  done
  die "no RocketMQ version of '$DC_ROCKETMQ_VERSIONS' could be fetched from Maven Central"
}

# The admin CLI (what `mqadmin` runs). It exits 0 even when the command failed, so callers
# look at its output. Client JVM tuned for start-up time, not throughput.
rmq_admin() {
  ROCKETMQ_HOME="$RMQ_DIR" timeout 60 java -Xms32m -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    "-Duser.home=$RMQ_USER_HOME" -Drmq.logback.configurationFile=rmq.tools.logback.xml \
    -cp "$RMQ_LIB/*" org.apache.rocketmq.tools.command.MQAdminStartup "$@" </dev/null 2>&1
}

# ---- name server queries without a JVM (the admin tool needs ~4-6 s per call) ----
# RocketMQ's remoting protocol over bash's /dev/tcp: a frame is
#   int32 length (of everything after it) | int32 header length (high byte 0 = JSON) | header | body
# with big-endian ints and a JSON header {"code":..., "extFields":{...}, ...}.
be32() { # print $1 as 4 big-endian bytes (the inner printf builds "\xHH" escapes, the outer emits them)
  # shellcheck disable=SC2059
  printf "$(printf '\\x%02x' $((($1 >> 24) & 255)) $((($1 >> 16) & 255)) $((($1 >> 8) & 255)) $(($1 & 255)))"
}
read_be32() { timeout 3 head -c 4 <&3 | od -An -tu4 --endian=big | tr -d ' \n'; }

# namesrv_rpc CODE EXTFIELDS_JSON: print the response header, a newline, then the body.
# Runs in a subshell so that a refused connection only makes it return non-zero.
namesrv_rpc() (
  local header total hlen
  header="{\"code\":$1,\"extFields\":$2,\"flag\":0,\"language\":\"JAVA\",\"opaque\":1,\"serializeTypeCurrentRPC\":\"JSON\",\"version\":500}"
  exec 3<>"/dev/tcp/127.0.0.1/$NAMESRV_PORT" || exit 1
  { be32 $((${#header} + 4)); be32 ${#header}; printf '%s' "$header"; } >&3
  total=$(read_be32)
  [[ -n $total ]] || exit 1
  hlen=$(($(read_be32) & 0xFFFFFF))
  timeout 3 head -c "$hlen" <&3
  echo
  timeout 3 head -c $((total - 4 - hlen)) <&3
) 2>/dev/null

# Request codes: 106 = GET_BROKER_CLUSTER_INFO, 105 = GET_ROUTEINFO_BY_TOPIC; "code":0 = success.
broker_registered() {
  local out
  out=$(namesrv_rpc 106 '{}') || return 1
  [[ $out == *'"code":0'* && $out == *"\"$BROKER_ADDR\""* ]]
}

topic_ready() {
  local out
  out=$(namesrv_rpc 105 "{\"topic\":\"$DC_ROCKETMQ_TOPIC\"}") || return 1
  [[ $out == *'"code":0'* && $out == *"\"$BROKER_ADDR\""* && $out == *'"writeQueueNums"'* ]]
}

out_says_booted() { grep -q 'boot success' "$1" 2>/dev/null; }

namesrv_start() {
  cat >"$NAMESRV_CONF" <<EOF
# Generated by deploy/services/up.sh
listenPort=$NAMESRV_PORT
bindAddress=127.0.0.1
EOF
  [[ -f $NAMESRV_OUT ]] && mv -f "$NAMESRV_OUT" "$NAMESRV_OUT.prev"
  log "RocketMQ: starting name server on $NAMESRV_ADDR"
  # rmq.logback.configurationFile names a resource inside the jars; without it the first
  # config found on the class path wins, which is the broker's one (it is listed first).
  spawn "$NAMESRV_PID" "$NAMESRV_OUT" env ROCKETMQ_HOME="$RMQ_DIR" \
    java -Xms128m -Xmx256m -XX:MaxDirectMemorySize=128m \
    "${RMQ_JAVA_OPTS[@]}" -Drmq.logback.configurationFile=rmq.namesrv.logback.xml \
    -cp "$RMQ_LIB/*" org.apache.rocketmq.namesrv.NamesrvStartup -c "$NAMESRV_CONF"
  wait_for "RocketMQ name server" "$NAMESRV_PID" NamesrvStartup "$NAMESRV_OUT $RMQ_LOG_DIR/namesrv.log" \
    out_says_booted "$NAMESRV_OUT"
  wait_for "RocketMQ name server port" "$NAMESRV_PID" NamesrvStartup "$NAMESRV_OUT" port_open "$NAMESRV_PORT"
}

broker_start() {
  mkdir -p "$RMQ_STORE/commitlog"
  cat >"$BROKER_CONF" <<EOF
# Generated by deploy/services/up.sh
brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=0
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
namesrvAddr=$NAMESRV_ADDR
# Address the broker advertises to clients (else the machine's first non-loopback address).
brokerIP1=127.0.0.1
# Listen on loopback only. Covers $BROKER_PORT and the "fast" port $((BROKER_PORT - 2));
# the HA port $((BROKER_PORT + 1)) has no bind option and listens on all addresses.
bindAddress=127.0.0.1
listenPort=$BROKER_PORT
storePathRootDir=$RMQ_STORE
storePathCommitLog=$RMQ_STORE/commitlog
autoCreateTopicEnable=true
autoCreateSubscriptionGroup=true
# Small files (defaults: 1 GiB commit log segments, ~5.7 MB consume queues, ~400 MB index files).
mappedFileSizeCommitLog=67108864
mappedFileSizeConsumeQueue=300000
maxHashSlotNum=500000
maxIndexNum=2000000
# Delete expired commit log files once the disk is 95% used (default 75%; maximum 95).
# NB: the broker refuses writes above diskSpaceWarningLevelRatio, which is capped at 90%.
diskMaxUsedSpaceRatio=95
fileReservedTime=24
# 2-core CI machine: give queued sends more time before "broker busy" (default 200 ms).
waitTimeMillsInSendQueue=1000
EOF
  [[ -f $BROKER_OUT ]] && mv -f "$BROKER_OUT" "$BROKER_OUT.prev"
  log "RocketMQ: starting broker on $BROKER_ADDR"
  spawn "$BROKER_PID" "$BROKER_OUT" env ROCKETMQ_HOME="$RMQ_DIR" \
    java -Xms256m -Xmx512m -XX:MaxDirectMemorySize=256m \
    "${RMQ_JAVA_OPTS[@]}" -Drmq.logback.configurationFile=rmq.broker.logback.xml \
    -cp "$RMQ_LIB/*" org.apache.rocketmq.broker.BrokerStartup -c "$BROKER_CONF" -n "$NAMESRV_ADDR"
  # "boot success" is printed after the broker's first registration with the name server.
  wait_for "RocketMQ broker" "$BROKER_PID" BrokerStartup "$BROKER_OUT $RMQ_LOG_DIR/broker.log" \
    out_says_booted "$BROKER_OUT"
}

# Warn early: above 90% disk use the broker answers every send with a disk-full error.
check_store_disk() {
  local used
  mkdir -p "$RMQ_STORE"
  used=$(df -P "$RMQ_STORE" | awk 'NR == 2 {sub("%", "", $5); print $5}')
  if [[ -n $used ]] && ((used >= 85)); then
    log "WARNING: the disk holding $RMQ_STORE is ${used}% full; the broker refuses messages above 90%"
  fi
}

ensure_rocketmq() {
  ensure_java_and_maven
  mkdir -p "$RMQ_DIR" "$RMQ_USER_HOME"
  rocketmq_fetch
  check_store_disk

  if pid_alive "$NAMESRV_PID" NamesrvStartup && port_open "$NAMESRV_PORT"; then
    log "RocketMQ: name server already running (pid $(<"$NAMESRV_PID"))"
  else
    port_open "$NAMESRV_PORT" && die "port $NAMESRV_PORT is taken by a process that is not our name server"
    namesrv_start
  fi

  if pid_alive "$BROKER_PID" BrokerStartup; then
    if [[ $(pid_state "$(<"$BROKER_PID")") == T ]]; then
      log "RocketMQ: broker was paused (SIGSTOP); resuming it"
      kill -CONT "$(<"$BROKER_PID")"
    fi
    log "RocketMQ: broker already running (pid $(<"$BROKER_PID"))"
  else
    port_open "$BROKER_PORT" && die "port $BROKER_PORT is taken by a process that is not our broker"
    broker_start
  fi
  wait_for "RocketMQ broker registration with the name server" "$BROKER_PID" BrokerStartup \
    "$BROKER_OUT $RMQ_LOG_DIR/broker.log" broker_registered

  if ! topic_ready; then
    # 8 queues, as infra/rocketmq's EnsureTopic and docker-compose make it: a queue is consumed by one
    # worker of the group at a time, so the count caps the workers that receive intents.
    log "RocketMQ: creating topic $DC_ROCKETMQ_TOPIC (8 read / 8 write queues) with the admin tool"
    local out
    out=$(rmq_admin updateTopic -n "$NAMESRV_ADDR" -c DefaultCluster -t "$DC_ROCKETMQ_TOPIC" -r 8 -w 8) || true
    [[ $out == *success* ]] || { printf '%s\n' "$out" >&2; die "could not create topic $DC_ROCKETMQ_TOPIC"; }
    wait_for "route of topic $DC_ROCKETMQ_TOPIC" "$BROKER_PID" BrokerStartup "$RMQ_LOG_DIR/broker.log" topic_ready
  fi
}

# ---------------------------------------------------------------- SeaweedFS (S3)
#   seaweedfs/  weed (the binary, built from deploy/services/seaweedfs), weed.stamp (what it was
#               built from), data/, weed.pid, weed.log, build.log

SW_DIR="$DC_SERVICES_DIR/seaweedfs"
SW_BIN="$SW_DIR/weed"
SW_STAMP="$SW_DIR/weed.stamp"
SW_DATA="$SW_DIR/data"
SW_PID="$SW_DIR/weed.pid"
SW_LOG="$SW_DIR/weed.log"
SW_MODULE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/seaweedfs"
# Fixed ports, all on 127.0.0.1 (gRPC ports are these + 10000).
SW_S3_PORT=8333
SW_MASTER_PORT=9333
SW_VOLUME_PORT=9340
SW_FILER_PORT=8888
DC_S3_BUCKET="${DC_S3_BUCKET:-dc-files}"
# Local-only credentials of the test server's admin identity.
SW_ACCESS_KEY=dc-local
SW_SECRET_KEY=dc-local-secret

# The binary is rebuilt when the wrapper module (the pinned version) changes.
seaweedfs_stamp() { cat "$SW_MODULE/go.mod" "$SW_MODULE/go.sum" | sha256sum | cut -c1-16; }

# Build `weed` from the wrapper module (~5 min and ~1.5 GB of module downloads on a 2-core
# machine, once; later runs reuse the cached binary).
seaweedfs_build() {
  local stamp
  stamp=$(seaweedfs_stamp)
  [[ -x $SW_BIN && -s $SW_STAMP && $(<"$SW_STAMP") == "$stamp" ]] && return 0
  command -v go >/dev/null || die "SeaweedFS: go not found (needed to build weed)"
  mkdir -p "$SW_DIR"
  log "SeaweedFS: building weed from $SW_MODULE (takes ~5 min once; log: $SW_DIR/build.log)"
  local started=$SECONDS
  (cd "$SW_MODULE" && GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}" GOFLAGS=-buildvcs=false nice -n 10 \
    go build -trimpath -ldflags='-s -w' -o "$SW_BIN.tmp" github.com/seaweedfs/seaweedfs/weed) \
    >"$SW_DIR/build.log" 2>&1 </dev/null || { show_logs "$SW_DIR/build.log"; die "SeaweedFS: build of weed failed"; }
  mv -f "$SW_BIN.tmp" "$SW_BIN"
  echo "$stamp" >"$SW_STAMP"
  log "SeaweedFS: weed built in $((SECONDS - started))s"
}

# The S3 gateway answers with our credentials and the bucket exists (an unsigned request gets 403).
seaweedfs_bucket_ok() {
  curl -fsS -o /dev/null --max-time 3 --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$SW_ACCESS_KEY:$SW_SECRET_KEY" -I "http://127.0.0.1:$SW_S3_PORT/$DC_S3_BUCKET" 2>/dev/null
}

seaweedfs_start() {
  mkdir -p "$SW_DATA"
  local p
  for p in $SW_S3_PORT $SW_MASTER_PORT $SW_VOLUME_PORT $SW_FILER_PORT; do
    port_open "$p" && die "port $p is taken by a process that is not our SeaweedFS"
  done
  log "SeaweedFS: starting weed mini, S3 on 127.0.0.1:$SW_S3_PORT, bucket $DC_S3_BUCKET"
  # -ip and -ip.bind: every listener on loopback, and the S3 endpoint announced there (by default
  # mini picks the machine's first other interface). Only the S3 gateway is needed: no WebDAV,
  # admin UI, Iceberg or Lance endpoints, no telemetry.
  spawn "$SW_PID" "$SW_LOG" env AWS_ACCESS_KEY_ID="$SW_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SW_SECRET_KEY" \
    "$SW_BIN" mini -dir="$SW_DATA" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="$SW_S3_PORT" -master.port="$SW_MASTER_PORT" -volume.port="$SW_VOLUME_PORT" -filer.port="$SW_FILER_PORT" \
    -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -admin.port.legacy=0 \
    -master.telemetry=false -bucket="$DC_S3_BUCKET"
  wait_for "SeaweedFS S3 bucket $DC_S3_BUCKET" "$SW_PID" "$SW_BIN" "$SW_LOG" seaweedfs_bucket_ok
}

ensure_seaweedfs() {
  command -v curl >/dev/null || apt_install curl ca-certificates
  seaweedfs_build
  if pid_alive "$SW_PID" "$SW_BIN" && seaweedfs_bucket_ok; then
    log "SeaweedFS: already running (pid $(<"$SW_PID"))"
    return 0
  fi
  pid_alive "$SW_PID" "$SW_BIN" && stop_pid "SeaweedFS (not answering)" "$SW_PID" "$SW_BIN" 30
  seaweedfs_start
}
