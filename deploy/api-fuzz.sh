#!/usr/bin/env bash
# make api-fuzz: schemathesis against a live embedded dc-api, with the checks
# not_a_server_error and response_schema_conformance, over the OpenAPI
# document the server itself serves. Any finding fails the run.
#
# schemathesis comes from PyPI into a venv under the services state dir
# (~/.cache/dc-services/schemathesis-<version>), made once and reused.
# When dc-api has API keys (`dc-api keys create`), a key is made for the run
# and sent as `Authorization: Bearer …`; before keys exist no header is sent.
#
#   DC_FUZZ_EXAMPLES   examples per operation (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
STATE="${DC_SERVICES_DIR:-$HOME/.cache/dc-services}"
ST_VERSION=4.32.5
VENV="$STATE/schemathesis-$ST_VERSION"
EXAMPLES="${DC_FUZZ_EXAMPLES:-40}"

if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "api-fuzz: installing schemathesis $ST_VERSION into $VENV"
  rm -rf "$VENV.tmp"
  python3 -m venv "$VENV.tmp"
  "$VENV.tmp/bin/pip" install -q --disable-pip-version-check "schemathesis==$ST_VERSION"
  # Built in place first so an interrupted install is never taken as done;
  # venv scripts name their interpreter by path, so rebuild them after the move.
  rm -rf "$VENV" && mv "$VENV.tmp" "$VENV"
  python3 -m venv --upgrade "$VENV" >/dev/null
  sed -i "1s|^#!.*python.*$|#!$VENV/bin/python3|" "$VENV"/bin/schemathesis "$VENV"/bin/st 2>/dev/null || true
fi

WORK=$(mktemp -d /tmp/dc-api-fuzz.XXXXXX)
API_PID=""
cleanup() { [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

go build -o "$WORK/dc-api" ./cmd/api
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
# The embedded mode: SQLite, in-process queue and worker, nothing shared.
env -u DC_MYSQL_DSN -u DC_ROCKETMQ_NAMESRV DC_DATA_DIR="$WORK/data" DC_HTTP_ADDR="127.0.0.1:$PORT" \
  "$WORK/dc-api" >"$WORK/api.log" 2>&1 &
API_PID=$!
for _ in $(seq 100); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$BASE/healthz" >/dev/null || { tail -20 "$WORK/api.log"; echo "api-fuzz: dc-api did not start"; exit 1; }

AUTH=()
if "$WORK/dc-api" keys --help >/dev/null 2>&1 || "$WORK/dc-api" keys create --help >/dev/null 2>&1; then
  KEY=$(env -u DC_MYSQL_DSN DC_DATA_DIR="$WORK/data" "$WORK/dc-api" keys create --tenant fuzz --name api-fuzz 2>/dev/null | tail -1 | tr -d '[:space:]') || KEY=""
  [ -n "$KEY" ] && AUTH=(-H "Authorization: Bearer $KEY") && echo "api-fuzz: using a bearer key made by dc-api keys create"
fi

echo "api-fuzz: schemathesis $ST_VERSION against $BASE ($EXAMPLES examples per operation)"
status=0
"$VENV/bin/schemathesis" run "$BASE/api/v1/openapi.json" --url "$BASE" "${AUTH[@]}" \
  --checks not_a_server_error,response_schema_conformance --max-examples "$EXAMPLES" \
  --no-color >"$WORK/st.log" 2>&1 || status=$?
tail -40 "$WORK/st.log"
if [ "$status" != 0 ]; then
  echo "api-fuzz: schemathesis found problems (exit $status); dc-api log tail:"
  tail -20 "$WORK/api.log"
  exit 1
fi
echo "api-fuzz: ok"
