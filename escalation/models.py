"""The contracts as pydantic models: the intake payload (Contract 1), the escalation package
(seed Step 1), and the triage decision (Contract 2).

Field names are snake_case in Python and camelCase on the wire, so the seed's JSON parses as
written and what we print matches the contracts.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic.alias_generators import to_camel

MAX_DESCRIPTION_CHARS = 20_000
MAX_SUBJECT_CHARS = 300

# The rules below are written so that Python's `re` and JSON Schema's ECMA-262 regexes read
# them the same way (no `\s`, whose meaning differs): the OpenAPI spec publishes them as is.
_CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"  # C0/C1 controls, DEL, line separators
_SPACES = r" \xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
_EMAIL_PART = rf'[^@<>"{_CONTROLS}{_SPACES}]+'
EMAIL_PATTERN = rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$"
TICKET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
ONE_LINE_PATTERN = rf"^[^{_CONTROLS}]*$"
_EMAIL = re.compile(EMAIL_PATTERN)
_TICKET_ID = re.compile(TICKET_ID_PATTERN)
_ONE_LINE = re.compile(ONE_LINE_PATTERN)


PREMIUM_STATUSES = frozenset({"premium", "pro", "business", "enterprise"})


class Urgency(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Priority(StrEnum):
    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"

    @property
    def rank(self) -> int:
        """0 for P0 (most urgent) … 3 for P3."""
        return int(self.value[1])


Team = Literal["engineering", "billing", "customer_success", "legal", "product"]
TEAMS: tuple[str, ...] = ("engineering", "billing", "customer_success", "legal", "product")

Trigger = Literal[
    "urgency", "auto_response_ineligible", "dissatisfaction", "beyond_kb", "legal_compliance"
]
TRIGGERS: tuple[str, ...] = (
    "urgency",
    "auto_response_ineligible",
    "dissatisfaction",
    "beyond_kb",
    "legal_compliance",
)


def _utc(value: datetime) -> datetime:
    """Timestamps are aware UTC; a naive one from the ticketing system is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.fullmatch(value):
        raise ValueError("is not an email address")
    return value


def _one_line(value: str) -> str:
    """A subject is one line: a newline or control character would break email headers."""
    if not _ONE_LINE.fullmatch(value):
        raise ValueError("must be one line without control characters")
    return value


def _ticket_id(value: str) -> str:
    if not _TICKET_ID.fullmatch(value):
        raise ValueError(
            "must be 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
        )
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
# Checked by the validators (with messages that name the problem), published in the schema.
Email = Annotated[str, AfterValidator(_email), Field(json_schema_extra={"pattern": EMAIL_PATTERN})]
TicketId = Annotated[
    str, AfterValidator(_ticket_id), Field(json_schema_extra={"pattern": TICKET_ID_PATTERN})
]


class Model(BaseModel):
    """camelCase on the wire, snake_case in Python; either is accepted on input."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class Ticket(Model):
    id: TicketId
    subject: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_SUBJECT_CHARS,
            json_schema_extra={"pattern": ONE_LINE_PATTERN},
        ),
        AfterValidator(_one_line),
    ]
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] = ""
    category: str | None = None
    urgency: Annotated[Urgency, BeforeValidator(_lower)]
    created_at: UtcDatetime
    customer_email: Email
    customer_name: str | None = None
    auto_response_eligible: bool = False
    kb_matched: bool = False

    @property
    def text(self) -> str:
        """Subject and description, what triage reads."""
        return f"{self.subject}\n{self.description}".strip()


class Customer(Model):
    model_config = ConfigDict(extra="allow")

    user_id: str | None = None
    account_status: Annotated[str | None, BeforeValidator(_lower)] = None
    account_age: str | None = None
    total_galleries: int | None = Field(default=None, ge=0)
    total_photos: int | None = Field(default=None, ge=0)
    last_login: UtcDatetime | None = None


class History(Model):
    model_config = ConfigDict(extra="allow")

    previous_tickets: int | None = Field(default=None, ge=0)
    last_ticket_date: date | None = None
    last_ticket_resolution: str | None = None
    average_resolution_time: str | None = None


class TechnicalContext(Model):
    model_config = ConfigDict(extra="allow")

    last_upload_attempt: UtcDatetime | None = None
    upload_status: str | None = None
    error_code: str | None = None
    browser_info: str | None = None
    file_size: str | None = None
    file_count: int | None = Field(default=None, ge=0)
    last_successful_upload: UtcDatetime | None = None
    # How many users the ticketing system or monitoring already knows to be affected.
    affected_users: int | None = Field(default=None, ge=0)


class TicketPayload(Model):
    """Contract 1: what the ticketing system hands us."""

    ticket: Ticket
    customer: Customer | None = None
    history: History | None = None
    technical_context: TechnicalContext | None = None


class KnownSolution(Model):
    """An approved learned pattern (seed De-escalation 4–5): a KB article and the customer
    answer to send instead of escalating. Loaded with the package; triage decides if it fits."""

    id: int
    scenario: str
    error_code: str | None = None
    symptom_terms: list[str] = Field(default_factory=list)
    title: str
    auto_response: str


class EscalationPackage(Model):
    """Seed Step 1: the payload with every gap filled from the database where possible."""

    ticket: Ticket
    customer: Customer
    history: History
    technical_context: TechnicalContext
    # Distinct other users who reported the same error code recently (several-users rule).
    recent_reports: int = 0
    # Context we could not find anywhere: flagged in the summary and the log, never fatal.
    gaps: list[str] = Field(default_factory=list)
    # Approved known solutions that could apply (same error code, or none): triage picks one.
    known_solutions: list[KnownSolution] = Field(default_factory=list)

    @property
    def premium(self) -> bool:
        return (self.customer.account_status or "") in PREMIUM_STATUSES

    @classmethod
    def from_payload(cls, payload: TicketPayload, **extra: Any) -> EscalationPackage:
        """The package as far as the payload alone goes (no database): what `decide` uses."""
        return cls(
            ticket=payload.ticket,
            customer=payload.customer or Customer(),
            history=payload.history or History(),
            technical_context=payload.technical_context or TechnicalContext(),
            **extra,
        )


class ScenarioEvidence(Model):
    """One scenario triage considered, and the customer's words (or the category) behind it."""

    scenario: str
    team: Team
    priority: Priority  # the scenario's row, after the several-users lift
    source: Literal["text", "category", "context", "hint", "fallback"]
    phrases: list[str] = Field(default_factory=list)
    score: float = 0.0


class TriageDecision(Model):
    """Contract 2: the triage decision `starter.py decide` prints."""

    ticket_id: str
    escalate: bool
    triggers: list[Trigger]
    team: Team | None
    priority: Priority | None
    response_target_minutes: int | None
    scenario: str | None
    sentiment: str
    time_sensitive: bool
    premium: bool
    reasons: list[str]
    # Beyond the contract: the exact target (second-scale in test policies), and what the
    # summary and the acknowledgement need.
    response_target_seconds: int | None = None
    sentiment_score: float = 0.0
    time_sensitive_quotes: list[str] = Field(default_factory=list)
    legal_terms: list[str] = Field(default_factory=list)
    several_users: bool = False
    # What the customer cares about, in their words ("wedding photos"), for the empathy line.
    at_stake: str | None = None
    # One line for the assignment row and the log ("Data loss - premium customer - time sensitive").
    headline: str = ""
    # The approved known solution the ticket matched (it is then KB-matched and
    # auto-response-eligible); the customer is sent its answer when nothing else escalates.
    known_solution: KnownSolution | None = None
    # Issue 11: the language the customer wrote in, how sure triage is (0-1), every scenario it
    # considered (most severe first) and the other issues the ticket mentions.
    language: str = "en"
    confidence: float = 0.0
    evidence: list[ScenarioEvidence] = Field(default_factory=list)
    also_mentioned: list[str] = Field(default_factory=list)


class InvalidPayload(ValueError):
    """A payload that fails validation; the message names the field."""


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming the field by its wire path (ticket.createdAt)."""
    lines = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "payload"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {message}")
    return "; ".join(lines)


def parse_payload(raw: str | bytes | dict[str, Any]) -> TicketPayload:
    """Validate a Contract-1 payload; raise InvalidPayload naming the bad field."""
    try:
        if isinstance(raw, dict):
            return TicketPayload.model_validate(raw)
        return TicketPayload.model_validate_json(raw)
    except ValidationError as error:
        raise InvalidPayload(describe_validation_error(error)) from None
