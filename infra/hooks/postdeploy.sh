#!/bin/sh
# azd postdeploy hook (azure.yaml), once the code is published:
#
# 1. The Key Vault event subscription. Event Grid validates a function or webhook endpoint when
#    the subscription is created, so it cannot exist before the code (infra/README.md "Deploy").
#    The first time, this hook wakes the app (its Event Grid extension key must exist for a
#    WebHook endpoint), sets DEPLOY_EVENT_SUBSCRIPTION=true and provisions again: the same
#    main.bicep creates the subscription, so there is one definition of it, not a second one in
#    `az eventgrid` commands that could drift. Later `azd up` runs provision with true from the
#    start and skip this step. With eventDelivery=storageQueue the second pass is harmless.
# 2. The deployed status check (infra/hooks/status-check.sh): GET /api/status?check=true with the
#    default function key, summary printed; the hook, and so `azd up`, fails unless it is ok.
#
# Bicep outputs reach the hook under their own names (functionAppName). POSIX sh; there is no
# PowerShell variant (on Windows run azd from Git Bash or WSL).
set -eu
cd "$(dirname "$0")/../.."

fail() {
    printf 'postdeploy: %s\n' "$*" >&2
    exit 1
}

group=${AZURE_RESOURCE_GROUP:-}
app=${functionAppName:-}
[ -n "$group" ] || fail "AZURE_RESOURCE_GROUP is not set in the azd environment"
[ -n "$app" ] || fail "functionAppName (an output of infra/main.bicep) is not in the azd environment: run azd provision"

if [ "${DEPLOY_EVENT_SUBSCRIPTION:-false}" != true ]; then
    infra/hooks/status-check.sh --wake "$group" "$app"
    azd env set DEPLOY_EVENT_SUBSCRIPTION true
    printf 'postdeploy: provisioning again with the Key Vault event subscription\n'
    azd provision --no-prompt ||
        fail "the event subscription was not created; see the error above, then run: azd provision"
fi
infra/hooks/status-check.sh "$group" "$app"
