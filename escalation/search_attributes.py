"""Typed search-attribute keys: what ops filter on in the Temporal UI (no PII here, ever)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

ESCALATION_PRIORITY = SearchAttributeKey.for_keyword("EscalationPriority")
ESCALATION_TEAM = SearchAttributeKey.for_keyword("EscalationTeam")
ESCALATION_STATE = SearchAttributeKey.for_keyword("EscalationState")
CUSTOMER_TIER = SearchAttributeKey.for_keyword("CustomerTier")
TIME_SENSITIVE = SearchAttributeKey.for_bool("TimeSensitive")
SLA_DUE_AT = SearchAttributeKey.for_datetime("SlaDueAt")

ALL_KEYS = (
    ESCALATION_PRIORITY,
    ESCALATION_TEAM,
    ESCALATION_STATE,
    CUSTOMER_TIER,
    TIME_SENSITIVE,
    SLA_DUE_AT,
)

# name → the type name `temporal server start-dev --search-attribute NAME=TYPE` expects.
CLI_TYPES: dict[str, str] = {
    key.name: {"KEYWORD": "Keyword", "BOOL": "Bool", "DATETIME": "Datetime"}[
        key.indexed_value_type.name
    ]
    for key in ALL_KEYS
}
