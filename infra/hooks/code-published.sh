#!/bin/sh
# Prints true when the app of the last deployment named DEPLOYMENT already serves its functions
# (so the Key Vault event subscription, validated on creation, can be deployed), else false.
# Used by .github/workflows/deploy.yml. POSIX sh; needs az, signed in.
#
#   infra/hooks/code-published.sh RESOURCE_GROUP DEPLOYMENT
set -eu
[ $# -eq 2 ] || {
    echo "usage: infra/hooks/code-published.sh RESOURCE_GROUP DEPLOYMENT" >&2
    exit 2
}
app=$(az deployment group show -g "$1" -n "$2" \
    --query properties.outputs.functionAppName.value -o tsv 2>/dev/null || true)
if [ -n "$app" ] && az functionapp function show -g "$1" -n "$app" \
    --function-name rotate_on_keyvault_event --output none 2>/dev/null; then
    echo true
else
    echo false
fi
