#!/bin/sh
# Run a CareWatch service with its own credentials (docker-compose): its broker username from
# /secrets/services.yaml (written once by `carewatch provision`) and its own database role from
# /secrets/db-roles.json (written once by `carewatch migrate --role-passwords`), never the owner's.
# Usage: with-mqtt-credentials.sh ROLE COMMAND...   (ROLE: ingest | alerts | web | simulator)
set -eu
role=$1; shift
secret=$(python -c "import sys, yaml; print(yaml.safe_load(open('/secrets/services.yaml')).get('carewatch-' + sys.argv[1], ''))" "$role")
if [ -n "$secret" ]; then
  export CAREWATCH_MQTT_URL="mqtt://carewatch-${role}:${secret}@${MQTT_HOST:-mosquitto}:${MQTT_PORT:-1883}"
fi
dbpw=$(python -c "import json, sys; print(json.load(open('/secrets/db-roles.json')).get(sys.argv[1], ''))" "$role")
if [ -n "$dbpw" ]; then
  export CAREWATCH_DATABASE_URL="postgresql://carewatch_${role}:${dbpw}@${DB_HOST:-timescaledb}:${DB_PORT:-5432}/carewatch"
fi
exec "$@"
