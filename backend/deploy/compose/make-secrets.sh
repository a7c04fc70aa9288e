#!/usr/bin/env bash
# Make the secrets docker-compose.yml needs: DIR/.env (random passwords, the operations API key's digest)
# and backend/deploy/compose/secrets/mosquitto.passwd (one Mosquitto user per line of the ACL).
# Prints the API key once: it is stored nowhere else. Usage: make-secrets.sh [DIR] (default: repo root).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${1:-$here/../../..}"
env_file="$target/.env"
passwd_file="$target/backend/deploy/compose/secrets/mosquitto.passwd"

if [[ -e "$env_file" ]]; then
    echo "make-secrets: $env_file exists; remove it first to make new secrets" >&2
    exit 1
fi
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }

key="$(random)"
declare -A mqtt=(
    [backend]="$(random)" [gw-ampal-mufakat]="$(random)" [gw-sh-km13]="$(random)" [viewer]="$(random)"
)
umask 077
cat >"$env_file" <<VARS
INFLUXDB_ADMIN_PASSWORD=$(random)
PANTAU_INFLUX_PASSWORD=$(random)
GRAFANA_INFLUX_PASSWORD=$(random)
GRAFANA_ADMIN_PASSWORD=$(random)
PANTAU_ALERT_WEBHOOK_URL=https://ops.example.go.id/grafana/alerts
PANTAU_MQTT_BACKEND_PASSWORD=${mqtt[backend]}
PANTAU_MQTT_GW_AMPAL_PASSWORD=${mqtt[gw-ampal-mufakat]}
PANTAU_MQTT_GW_KM13_PASSWORD=${mqtt[gw-sh-km13]}
PANTAU_MQTT_VIEWER_PASSWORD=${mqtt[viewer]}
PANTAU_KEY_OPS_SHA256=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
VARS

# mosquitto_passwd from Debian's mosquitto package, else from the broker's image.
mkdir -p "$(dirname "$passwd_file")"
: >"$passwd_file"
# The backend's three MQTT connections log in as three users with its one password: the broker binds
# each client id to its user (use_username_as_clientid), so each connection needs a user of its own.
declare -A logins=(
    [backend-rules]="${mqtt[backend]}" [backend-alerts]="${mqtt[backend]}"
)
for user in "${!mqtt[@]}"; do logins[$user]="${mqtt[$user]}"; done
for user in "${!logins[@]}"; do
    if command -v mosquitto_passwd >/dev/null; then
        mosquitto_passwd -b "$passwd_file" "$user" "${logins[$user]}"
    else
        docker run --rm -v "$(dirname "$passwd_file"):/s" eclipse-mosquitto:2.0.20 \
            mosquitto_passwd -b "/s/$(basename "$passwd_file")" "$user" "${logins[$user]}"
    fi
done
# Hashes only (PBKDF2-SHA512); the broker's own user (uid 1883) must be able to read the file.
chmod 0644 "$passwd_file"

echo "make-secrets: wrote $env_file and $passwd_file"
echo "make-secrets: the operations center's API key (role operator), shown once: $key"
