#!/bin/sh
set -eu

BACKEND_URL="${BACKEND_URL:-http://backend:3000}"

echo "Checking backend health at ${BACKEND_URL}/healthz"
for i in 1 2 3 4 5; do
  if curl -sf "${BACKEND_URL}/healthz"; then
    echo "backend is healthy"
    exit 0
  fi
  echo "attempt ${i} failed, retrying..."
  sleep 5
done

echo "smoke test failed"
exit 1
