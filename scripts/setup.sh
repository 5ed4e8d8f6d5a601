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

# Debian packages, installed when missing. WeasyPrint prints PDFs (a quote's) with Pango in the Noto CJK fonts.
debian_packages=(libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk)
if [ $want_test = 1 ]; then
  # Browser tests drive Debian's Chromium through Playwright (no browser download); pdftotext reads PDFs back.
  debian_packages+=(chromium poppler-utils)
fi
missing=()
for package in "${debian_packages[@]}"; do
  status=$(dpkg -s "$package" 2>/dev/null | sed -n 's/^Status: //p' || true)
  [ "$status" = "install ok installed" ] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  # env, not a prefix: sudo drops the caller's environment.
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
