#!/usr/bin/env bash
# The whole test suite from a fresh clone: packages, type check, FerretDB
# (built and started by test/run.ts), then every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
command -v go >/dev/null || { echo "Go is needed to build FerretDB for the tests" >&2; exit 1; }

npx tsc --noEmit -p tsconfig.json
exec npx tsx test/run.ts "$@"
