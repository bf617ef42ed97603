#!/bin/sh
# One-shot job, run in the temporalio/admin-tools image once the Temporal server is healthy:
# creates the namespace and registers the escalation service's custom search attributes
# (docs/contracts/messages.md). Idempotent: an existing namespace, or a search attribute that already
# exists with the same type, is left as it is; one that exists with another type fails the job.
set -eu

TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-720h}"
ATTEMPTS="${ATTEMPTS:-60}"
RETRY_DELAY="${RETRY_DELAY:-2}"

# name type -- one a line. No PII goes into search attributes.
SEARCH_ATTRIBUTES='
EscalationPriority Keyword
EscalationTeam Keyword
EscalationState Keyword
CustomerTier Keyword
TimeSensitive Bool
SlaDueAt Datetime
'

# Dial the server's IPv4 address: inside compose the name may also resolve to an IPv6 address
# the frontend does not listen on. Falls back to the name when it cannot be resolved here.
host="${TEMPORAL_ADDRESS%:*}"
port="${TEMPORAL_ADDRESS##*:}"
ip="$(getent ahosts "$host" 2>/dev/null | awk '$1 ~ /^[0-9.]+$/ { print $1; exit }' || true)"
ADDRESS="${ip:-$host}:$port"

t() {
    temporal "$@" --address "$ADDRESS"
}

echo "Waiting for the Temporal server at $TEMPORAL_ADDRESS ($ADDRESS) ..."
attempt=1
until t operator cluster health >/dev/null 2>&1; do
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
        echo "Temporal server at $TEMPORAL_ADDRESS is not healthy; giving up." >&2
        t operator cluster health || true
        exit 1
    fi
    attempt=$((attempt + 1))
    sleep "$RETRY_DELAY"
done
echo "Temporal server is serving."

if t operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
    echo "Namespace $NAMESPACE exists."
else
    echo "Creating namespace $NAMESPACE (retention $RETENTION) ..."
    # A concurrent creator may win the race: "already exists" is fine, anything else is not.
    if ! out="$(t operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" 2>&1)"; then
        case "$out" in
            *"already exists"* | *AlreadyExists*) echo "Namespace $NAMESPACE exists." ;;
            *) echo "$out" >&2; exit 1 ;;
        esac
    fi
fi

# Registered type of search attribute $1 in the namespace (lower case: keyword, bool, ...),
# empty when it has none.
registered_type() {
    t operator search-attribute list --namespace "$NAMESPACE" 2>/dev/null \
        | awk -v name="$1" '$1 == name { t = tolower($2); sub(/^indexed_value_type_/, "", t); print t; exit }'
}

register() {
    name="$1"
    type="$2"
    attempt=1
    while :; do
        current="$(registered_type "$name" || true)"
        if [ -n "$current" ]; then
            if [ "$current" = "$(echo "$type" | tr '[:upper:]' '[:lower:]')" ]; then
                echo "Search attribute $name ($type) is registered."
                return 0
            fi
            echo "Search attribute $name is registered as $current, not $type." >&2
            return 1
        fi
        # Right after the namespace is created the server may not know it yet: retry.
        if out="$(t operator search-attribute create --namespace "$NAMESPACE" \
                --name "$name" --type "$type" 2>&1)"; then
            echo "Registered search attribute $name ($type)."
            return 0
        fi
        if [ "$attempt" -ge "$ATTEMPTS" ]; then
            echo "Could not register search attribute $name ($type): $out" >&2
            return 1
        fi
        attempt=$((attempt + 1))
        sleep "$RETRY_DELAY"
    done
}

echo "$SEARCH_ATTRIBUTES" | while read -r name type; do
    [ -n "$name" ] || continue
    register "$name" "$type"
done
echo "Namespace $NAMESPACE is ready with its search attributes."
