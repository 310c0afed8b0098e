#!/usr/bin/env bash
# The README's first command: brings Faasbox up on its embedded defaults (SQLite in ./data,
# in-process job bus, one worker) next to a local Docker engine and a loopback registry, then
# runs one function end to end over HTTP and leaves the platform running (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/local/services.sh
[ -d node_modules ] || npm ci --no-audit --no-fund

REGISTRY=127.0.0.1:${FAASBOX_QUICKSTART_REGISTRY_PORT:-5000}
if ! curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1; then
  echo "== starting a registry on $REGISTRY"
  mkdir -p data/registry
  cat >data/registry/config.yml <<YML
version: 0.1
storage: { filesystem: { rootdirectory: $PWD/data/registry/storage } }
http: { addr: $REGISTRY }
YML
  nohup docker-registry serve data/registry/config.yml >data/registry/registry.log 2>&1 &
  for _ in $(seq 1 50); do curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1 && break; sleep 0.2; done
fi
bash deploy/test-images/build.sh "$REGISTRY"

export PORT=${PORT:-8080}
API=http://127.0.0.1:$PORT
echo "== starting faasbox on $API (logs: data/faasbox.log)"
mkdir -p data
npm start >data/faasbox.log 2>&1 &
FAASBOX=$!
trap 'kill $FAASBOX 2>/dev/null' EXIT
for _ in $(seq 1 100); do curl -fsS "$API/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$API/readyz" >/dev/null || { cat data/faasbox.log; exit 1; }

show() { echo; echo "\$ $1"; }
EMAIL="demo-$(date +%s)@example.com"
show "curl -X POST $API/v1/users -d '{\"email\":\"$EMAIL\",\"password\":\"correct horse battery\"}'"
curl -sS -X POST "$API/v1/users" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"correct horse battery\"}"; echo

show "curl -X POST $API/v1/tokens -d '{\"email\":\"$EMAIL\",\"password\":\"…\"}'"
TOKEN_JSON=$(curl -sS -X POST "$API/v1/tokens" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"correct horse battery\"}")
echo "$TOKEN_JSON"
TOKEN=$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).token)' "$TOKEN_JSON")

show "curl -X POST $API/v1/functions -H 'authorization: Bearer …' -d '{\"name\":\"shout\",\"image\":\"$REGISTRY/faasbox/busybox:1\",\"command\":[\"sh\",\"-c\",\"tr a-z A-Z\"]}'"
FUNCTION_JSON=$(curl -sS -X POST "$API/v1/functions" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"name\":\"shout\",\"image\":\"$REGISTRY/faasbox/busybox:1\",\"command\":[\"sh\",\"-c\",\"tr a-z A-Z\"]}")
echo "$FUNCTION_JSON"
FUNCTION_ID=$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).id)' "$FUNCTION_JSON")

show "curl -X POST $API/v1/functions/$FUNCTION_ID/executions -H 'authorization: Bearer …' --data-binary 'hello from faasbox'"
curl -sS -X POST "$API/v1/functions/$FUNCTION_ID/executions" -H "authorization: Bearer $TOKEN" \
  --data-binary 'hello from faasbox'; echo

show "curl $API/v1/functions/$FUNCTION_ID/executions -H 'authorization: Bearer …'"
curl -sS "$API/v1/functions/$FUNCTION_ID/executions" -H "authorization: Bearer $TOKEN"; echo

echo
echo "== Faasbox is running at $API (pid $FAASBOX). Ctrl-C stops it."
echo "   console: $API/console (sign in as $EMAIL, password: correct horse battery)"
echo "   API documentation: $API/docs   metrics: $API/metrics"
echo "   command line: npm run faasbox -- login --email $EMAIL --url $API, then: npm run faasbox -- fn ls"
wait $FAASBOX
