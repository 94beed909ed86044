#!/bin/sh
# Run a CareWatch service with its own credentials (docker-compose): its own broker login from
# /secrets/services.yaml (written once by `carewatch provision`) and its own database role from
# /secrets/db-roles.json (written once by `carewatch migrate --role-passwords`), never the owner's.
# Usage: with-mqtt-credentials.sh ROLE COMMAND...   (ROLE: ingest | alerts | web | simulator)
#
# ingest and alerts are given the broker's address without a user and the secrets file: each worker
# then logs in as its own user (`carewatch ingest --worker i`: carewatch-ingest, carewatch-ingest-i;
# `carewatch alerts --shard k/M`: carewatch-alerts-k-of-M), as `carewatch provision --ingest-workers N
# --alert-shards M` made them. One login shared by two workers is a session the broker hands back and
# forth between them for ever (issue #38 F), so no worker is handed the role's name here.
set -eu
role=$1; shift
secrets=${CAREWATCH_SECRETS_DIR:-/secrets}  # the mqsecrets volume (another directory: tests/test_scale_out.py)
broker="${MQTT_HOST:-mosquitto}:${MQTT_PORT:-1883}"
case "$role" in
  ingest|alerts)
    export CAREWATCH_MQTT_URL="mqtt://${broker}"
    export CAREWATCH_MQTT_CREDENTIALS="${secrets}/services.yaml"
    ;;
  *)
    secret=$(python -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[2])).get('carewatch-' + sys.argv[1], ''))" "$role" "${secrets}/services.yaml")
    if [ -n "$secret" ]; then
      export CAREWATCH_MQTT_URL="mqtt://carewatch-${role}:${secret}@${broker}"
    fi
    ;;
esac
dbpw=$(python -c "import json, sys; print(json.load(open(sys.argv[2])).get(sys.argv[1], ''))" "$role" "${secrets}/db-roles.json")
if [ -n "$dbpw" ]; then
  export CAREWATCH_DATABASE_URL="postgresql://carewatch_${role}:${dbpw}@${DB_HOST:-timescaledb}:${DB_PORT:-5432}/carewatch"
fi
exec "$@"
