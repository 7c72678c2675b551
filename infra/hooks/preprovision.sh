#!/bin/sh
# azd preprovision hook (azure.yaml): turn the azd environment into the values
# infra/main.parameters.json reads, and stop before anything is created if one is missing or wrong.
#
#   KEY_VAULT_NAME          the existing vault (required)
#   ALERT_EMAILS            comma-separated addresses (required)   -> ALERT_EMAILS_JSON
#   ROTATOR_CONFIG_FILE     the targets document, a JSON file (required), validated with
#                           rotator's own parser                    -> ROTATOR_CONFIG_JSON
#   KEY_VAULT_RESOURCE_GROUP  default: AZURE_RESOURCE_GROUP
#
# azd passes its environment to the hook and reads it again afterwards (Azure/azure-dev#1714,
# #3973, both closed as fixed bugs; not tried here), so the values set here
# with `azd env set` reach this provision's parameters. Object and array parameters given as a
# JSON string need azd 1.23.4 or later (Azure/azure-dev#6694; azure.yaml requiredVersions).
# POSIX sh; there is no PowerShell variant (on Windows run azd from Git Bash or WSL).
set -eu
cd "$(dirname "$0")/../.."

fail() {
    printf 'preprovision: %s\n' "$*" >&2
    exit 1
}

require() { # require NAME WHAT: NAME must be set in the azd environment
    eval "value=\${$1:-}"
    [ -n "$value" ] || fail "$1 is not set: azd env set $1 <$2>"
}

require KEY_VAULT_NAME "name of the existing Key Vault"
require ALERT_EMAILS "comma-separated e-mail addresses for the alerts"
require ROTATOR_CONFIG_FILE "path of the ROTATOR_CONFIG JSON file"
require AZURE_RESOURCE_GROUP "resource group to deploy to"

python=.venv/bin/python
[ -x "$python" ] || python=$(command -v python3 || true)
[ -n "$python" ] || fail "python3 is needed to read ROTATOR_CONFIG_FILE (3.11+ to validate it)"

config=$("$python" infra/hooks/deploy_helper.py rotator-config "$ROTATOR_CONFIG_FILE") || exit 1
emails=$("$python" infra/hooks/deploy_helper.py alert-emails "$ALERT_EMAILS") || exit 1

azd env set ROTATOR_CONFIG_JSON "$config"
azd env set ALERT_EMAILS_JSON "$emails"
if [ -z "${KEY_VAULT_RESOURCE_GROUP:-}" ]; then
    azd env set KEY_VAULT_RESOURCE_GROUP "$AZURE_RESOURCE_GROUP"
fi
printf 'preprovision: ROTATOR_CONFIG_FILE %s is valid; parameters ready\n' "$ROTATOR_CONFIG_FILE"
