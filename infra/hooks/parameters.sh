#!/bin/sh
# infra/main.parameters.json (the file `azd up` uses) filled from this process's environment, for
# `az deployment group what-if|create` in .github/workflows/deploy.yml: ROTATOR_CONFIG_FILE is
# validated and inlined (ROTATOR_CONFIG_JSON), ALERT_EMAILS becomes ALERT_EMAILS_JSON, as the
# preprovision hook does for azd, then deploy_helper.py fills the ${NAME} / ${NAME=default}
# placeholders and types each value as main.bicep declares it. POSIX sh.
#
#   infra/hooks/parameters.sh OUTPUT_FILE
set -eu
cd "$(dirname "$0")/../.."
[ $# -eq 1 ] || {
    echo "usage: infra/hooks/parameters.sh OUTPUT_FILE" >&2
    exit 2
}
python=$(command -v python3 || command -v python)
ROTATOR_CONFIG_JSON=$("$python" infra/hooks/deploy_helper.py rotator-config "${ROTATOR_CONFIG_FILE:?ROTATOR_CONFIG_FILE is not set}")
ALERT_EMAILS_JSON=$("$python" infra/hooks/deploy_helper.py alert-emails "${ALERT_EMAILS:?ALERT_EMAILS is not set}")
export ROTATOR_CONFIG_JSON ALERT_EMAILS_JSON
"$python" infra/hooks/deploy_helper.py parameters infra/main.parameters.json >"$1"
