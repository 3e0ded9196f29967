#!/usr/bin/env bash
# Stop SeaweedFS, the broker, the name server and MariaDB started by up.sh (SIGTERM, then SIGKILL after
# a grace period). Data stays in the state dir; up.sh starts them again on it.
set -euo pipefail
# shellcheck source=deploy/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_pid "SeaweedFS" "$SW_PID" "$SW_BIN" 30
# The broker's graceful shutdown takes ~15 s (it flushes and unregisters from the name server).
stop_pid "RocketMQ broker" "$BROKER_PID" BrokerStartup 60
stop_pid "RocketMQ name server" "$NAMESRV_PID" NamesrvStartup 30
stop_pid "MariaDB" "$MARIADB_PID" "$MARIADB_CNF" 60
