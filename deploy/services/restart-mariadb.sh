#!/usr/bin/env bash
# Restart the MariaDB started by up.sh, for fault tests.
# Usage: restart-mariadb.sh [--kill] [SECONDS_DOWN]
#   --kill        SIGKILL instead of a clean shutdown (a crash; InnoDB recovers on start)
#   SECONDS_DOWN  stay stopped this long before starting again (default 0)
set -euo pipefail
# shellcheck source=deploy/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hard=0 down=0
for arg in "$@"; do
  case $arg in
    --kill) hard=1 ;;
    [0-9]*) down=$arg ;;
    *) die "usage: $0 [--kill] [SECONDS_DOWN]" ;;
  esac
done

pid_alive "$MARIADB_PID" "$MARIADB_CNF" || die "MariaDB is not running (no live pid in $MARIADB_PID); use up.sh"
if ((hard)); then
  pid=$(<"$MARIADB_PID")
  log "MariaDB: SIGKILL pid $pid"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
else
  stop_pid "MariaDB" "$MARIADB_PID" "$MARIADB_CNF" 60
fi
# Wait until the port is really free before starting again.
while port_open "$MARIADB_PORT"; do sleep 0.2; done
if ((down > 0)); then
  log "MariaDB: staying down for ${down}s"
  sleep "$down"
fi
mariadb_start
log "MariaDB: up again (pid $(<"$MARIADB_PID"))"
