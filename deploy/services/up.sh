#!/usr/bin/env bash
# Install (when missing) and start the services the tests need, all on 127.0.0.1:
#   MariaDB 3306 (database dc, user dc/dc), RocketMQ name server 9876 and broker 10911
#   with topic $DC_ROCKETMQ_TOPIC (default dc-task-intents), SeaweedFS's S3 gateway 8333 with
#   bucket $DC_S3_BUCKET (default dc-files; weed is built from deploy/services/seaweedfs once, ~5 min).
# Idempotent: when everything already answers it prints "services already up" and exits.
# The servers keep running after this script exits; stop them with down.sh.
# Env: DC_SERVICES_DIR (state dir, default ~/.cache/dc-services), DC_ROCKETMQ_TOPIC,
#      DC_SERVICES_WAIT_SECONDS (per-service start timeout, default 120).
set -euo pipefail
# shellcheck source=deploy/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

started=$SECONDS

# Fast path (~0.1 s): one SELECT as user dc and one topic-route query to the name server.
# Skipped when the broker is paused, so that the slow path resumes it.
broker_paused() { pid_alive "$BROKER_PID" BrokerStartup && [[ $(pid_state "$(<"$BROKER_PID")") == T ]]; }
if mariadb_dc_ok && port_open "$NAMESRV_PORT" && port_open "$BROKER_PORT" && ! broker_paused &&
  [[ -s $RMQ_LIB/.version ]] && topic_ready && pid_alive "$SW_PID" "$SW_BIN" && seaweedfs_bucket_ok; then
  echo "services already up"
  exit 0
fi

ensure_mariadb
ensure_rocketmq
ensure_seaweedfs

echo "services up in $((SECONDS - started))s: MariaDB 127.0.0.1:$MARIADB_PORT, RocketMQ $(<"$RMQ_LIB/.version") name server $NAMESRV_ADDR, broker $BROKER_ADDR, topic $DC_ROCKETMQ_TOPIC, SeaweedFS S3 http://127.0.0.1:$SW_S3_PORT bucket $DC_S3_BUCKET (state: $DC_SERVICES_DIR)"
