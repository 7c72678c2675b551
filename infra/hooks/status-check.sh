#!/bin/sh
# The deployed app's preflight, as an operator would run it: GET /api/status?check=true with the
# app's default function key (az functionapp keys list), then a short summary of the report
# (deploy_helper.py status-summary). Exit 0 only when the report says ok.
# Used by the azd postdeploy hook and by .github/workflows/deploy.yml. Needs az (signed in),
# curl and python3. POSIX sh; there is no PowerShell variant.
#
#   infra/hooks/status-check.sh [--wake] RESOURCE_GROUP FUNCTION_APP
#
# --wake: one GET /api/status (no check), whatever it answers: it starts the host, which loads its
# extensions and creates the Event Grid extension's system key that a WebHook subscription reads.
# STATUS_CHECK_TRIES (10) and STATUS_CHECK_WAIT (15 s): how long to wait for a starting host.
#
# The key never reaches a command line (curl reads the header from stdin) and is masked in
# GitHub Actions logs.
set -eu
cd "$(dirname "$0")/../.."

fail() {
    printf 'status-check: %s\n' "$*" >&2
    exit 1
}

wake=false
if [ "${1:-}" = --wake ]; then
    wake=true
    shift
fi
[ $# -eq 2 ] || {
    echo "usage: infra/hooks/status-check.sh [--wake] RESOURCE_GROUP FUNCTION_APP" >&2
    exit 2
}
group=$1
app=$2
python=$(command -v python3 || true)
[ -n "$python" ] || fail "python3 is needed to read the report"

host=$(az functionapp show -g "$group" -n "$app" --query defaultHostName -o tsv) ||
    fail "cannot read $app in $group (az functionapp show)"
key=$(az functionapp keys list -g "$group" -n "$app" --query functionKeys.default -o tsv) ||
    fail "cannot list the function keys of $app (az functionapp keys list)"
[ -n "$key" ] || fail "$app has no default function key yet; publish the code first"
if [ "${GITHUB_ACTIONS:-}" = true ]; then
    echo "::add-mask::$key"
fi

body=$(mktemp)
trap 'rm -f "$body"' EXIT
get() { # get PATH: the HTTP status of GET https://$host/PATH (000: none), the body in $body
    status=$(printf 'x-functions-key: %s\n' "$key" |
        curl --silent --show-error --max-time 240 --header @- --output "$body" \
            --write-out '%{http_code}' "https://$host/$1") || status=000
    echo "$status"
}

if [ "$wake" = true ]; then
    printf 'status-check: waking %s: HTTP %s\n' "$host" "$(get api/status)"
    exit 0
fi

# Right after a deployment the host may still be starting: retry what a restart answers.
tries=${STATUS_CHECK_TRIES:-10}
wait_seconds=${STATUS_CHECK_WAIT:-15}
attempt=1
while :; do
    code=$(get 'api/status?check=true')
    case $code in
        200 | 500) break ;;
        000 | 404 | 502 | 503 | 504) ;;
        *) fail "GET /api/status?check=true answered HTTP $code" ;;
    esac
    [ "$attempt" -lt "$tries" ] || fail "GET /api/status?check=true still answers HTTP $code after $attempt tries"
    printf 'status-check: HTTP %s, the host may still be starting; trying again in %s s\n' "$code" "$wait_seconds" >&2
    attempt=$((attempt + 1))
    sleep "$wait_seconds"
done
"$python" infra/hooks/deploy_helper.py status-summary <"$body"
