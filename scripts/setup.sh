#!/usr/bin/env bash
# Install what bpm-crm needs into this checkout; safe to run again. Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1
python=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
extras=""
[ $want_test = 1 ] && extras="[test]"
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".${extras}"

# Browser assets (bpmn-js, Bootstrap, ECharts) from the npm registry, pinned by package-lock.json.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

if compgen -G "bpm_crm/translations/*/LC_MESSAGES/messages.po" >/dev/null; then
  .venv/bin/pybabel compile --use-fuzzy -d bpm_crm/translations -D messages >/dev/null
fi

if [ $want_test = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  # Browser tests drive Debian's Chromium through Playwright (no browser download).
  sudo_cmd=""
  [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
