#!/usr/bin/env bash
# Let a broker frozen by pause-broker.sh run again (SIGCONT).
set -euo pipefail
# shellcheck source=deploy/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pid_alive "$BROKER_PID" BrokerStartup || die "the broker is not running (no live pid in $BROKER_PID)"
kill -CONT "$(<"$BROKER_PID")"
log "broker pid $(<"$BROKER_PID") resumed"
