#!/usr/bin/env bash
# Freeze the RocketMQ broker (SIGSTOP): its sockets stay open but nothing answers, like a
# hung broker. Undo with resume-broker.sh (up.sh and down.sh also resume it).
set -euo pipefail
# shellcheck source=deploy/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pid_alive "$BROKER_PID" BrokerStartup || die "the broker is not running (no live pid in $BROKER_PID)"
kill -STOP "$(<"$BROKER_PID")"
log "broker pid $(<"$BROKER_PID") paused"
