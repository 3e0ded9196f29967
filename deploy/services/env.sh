#!/usr/bin/env bash
# Print the environment the tests use to reach the services started by up.sh.
# Usage: eval "$(deploy/services/env.sh)"
set -euo pipefail
# shellcheck source=deploy/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cat <<'ENV'
export DC_MYSQL_DSN='dc:dc@tcp(127.0.0.1:3306)/dc?parseTime=true&loc=UTC&charset=utf8mb4&multiStatements=true'
export DC_ROCKETMQ_NAMESRV='127.0.0.1:9876'
ENV
# dc-api requires a link-signing secret with DC_MYSQL_DSN. These services are a local development
# stack with fixed credentials (dc:dc above), so its secret is fixed too; a real deployment sets its own.
echo "export DC_LINK_SECRET='dc-local-services-link-secret-0123456789'"
# The S3 settings of DC_STORAGE=s3 (which stays off unless a test or a user sets it).
cat <<ENV
export DC_S3_ENDPOINT='http://127.0.0.1:$SW_S3_PORT'
export DC_S3_BUCKET='$DC_S3_BUCKET'
export DC_S3_REGION='us-east-1'
export DC_S3_ACCESS_KEY='$SW_ACCESS_KEY'
export DC_S3_SECRET_KEY='$SW_SECRET_KEY'
export DC_S3_PATH_STYLE='true'
ENV
