#!/bin/sh
# Run a CareWatch service with its own broker credentials (docker-compose).
# Usage: with-mqtt-credentials.sh ROLE COMMAND...   (ROLE: ingest | alerts | simulator)
# The secret comes from /secrets/services.yaml, written once by `carewatch provision`.
set -eu
role=$1; shift
secret=$(python -c "import sys, yaml; print(yaml.safe_load(open('/secrets/services.yaml'))['carewatch-' + sys.argv[1]])" "$role")
export CAREWATCH_MQTT_URL="mqtt://carewatch-${role}:${secret}@${MQTT_HOST:-mosquitto}:${MQTT_PORT:-1883}"
exec "$@"
