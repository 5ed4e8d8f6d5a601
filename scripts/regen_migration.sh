#!/usr/bin/env bash
# Regenerate the newest migration from the models (only while that migration has not been released).
set -euo pipefail
cd "$(dirname "$0")/.."
rev=07d640e9082c
msg="crm records, sales, service, administration"
rm -f bpm_crm/migrations/versions/${rev}_*.py
tmp=$(mktemp -d)
export BPM_CRM_DATABASE_URL="sqlite:///$tmp/regen.sqlite3" BPM_CRM_INSTANCE_DIR="$tmp"
.venv/bin/flask --app 'bpm_crm:create_app()' db upgrade >/dev/null 2>&1
.venv/bin/flask --app 'bpm_crm:create_app()' db revision --autogenerate --rev-id "$rev" -m "$msg" 2>&1 | tail -1
rm -rf "$tmp"
