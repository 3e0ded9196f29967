#!/usr/bin/env bash
# Print the environment the tests use to reach the services started by up.sh.
# Usage: eval "$(deploy/services/env.sh)"
set -euo pipefail
cat <<'ENV'
export DC_MYSQL_DSN='dc:dc@tcp(127.0.0.1:3306)/dc?parseTime=true&loc=UTC&charset=utf8mb4&multiStatements=true'
export DC_ROCKETMQ_NAMESRV='127.0.0.1:9876'
ENV
