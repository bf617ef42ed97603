"""The contracts as pydantic models: the intake payload (Contract 1), the escalation package
(seed Step 1), and the triage decision (Contract 2).

Field names are snake_case in Python and camelCase on the wire, so the seed's JSON parses as
written and what we print matches the contracts.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError, to_json

# --- Size caps --------------------------------------------------------------------------------
# The intake payload is the workflow input, and Step 1's package, the triage decision's quotes,
# the status query and continue-as-new carry copies of it. Temporal refuses a payload over
# 2 MB (it warns at 512 KB) and a gRPC message over 4 MB, so every string and count and the
# extras are capped here, and the whole stays far below that. A cap may be raised at any time;
# lowering one fails running workflows that hold a longer value (their input is validated on
# replay).
MAX_TICKET_ID_CHARS = 64  # a helpdesk's ticket id (also the workflow id's tail)
MAX_SUBJECT_CHARS = 300  # one line: it becomes the acknowledgement's subject
MAX_DESCRIPTION_CHARS = 20_000  # the customer's message: a long email with its quoted thread
MAX_EMAIL_CHARS = 254  # RFC 5321: the longest address SMTP can deliver to
MAX_NAME_CHARS = 256  # a person's name, a user id
MAX_SHORT_CHARS = 128  # codes and short labels: category, errorCode, accountStatus, "150MB"
MAX_BROWSER_INFO_CHARS = 500  # a whole User-Agent header
MAX_RESOLUTION_CHARS = 4_000  # how the last ticket was resolved: a note, not the thread
MAX_EXTRA_FIELDS = 32  # undeclared keys in one customer / history / technicalContext object
MAX_EXTRA_NAME_CHARS = 64  # an undeclared key
MAX_EXTRA_VALUE_BYTES = 2_048  # one undeclared value, as JSON
MAX_EXTRA_DEPTH = 3  # arrays and objects nested in one undeclared value
MAX_EXTRAS_BYTES = 8_192  # all undeclared values of one object together, as JSON
MAX_COUNT = 2**31 - 1  # totalPhotos, fileCount, …: a PostgreSQL integer, not a 4,000-digit one
# The ticket and every undeclared value together, as JSON. The declared context fields are
# left out: Step 1 fills them in from the database (cut to their caps), and a payload rebuilt
# from the package must still validate; capped one by one, they add at most some 34 KB.
MAX_PAYLOAD_BYTES = 65_536

# The rules below are written so that Python's `re` and JSON Schema's ECMA-262 regexes read
# them the same way (no `\s`, whose meaning differs): the OpenAPI spec publishes them as is.
_CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"  # C0/C1 controls, DEL, line separators
_SPACES = r" \xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
_EMAIL_PART = rf'[^@<>"{_CONTROLS}{_SPACES}]+'
EMAIL_PATTERN = rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$"
TICKET_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_TICKET_ID_CHARS - 1}}}$"
ONE_LINE_PATTERN = rf"^[^{_CONTROLS}]*$"
_EMAIL = re.compile(EMAIL_PATTERN)
_TICKET_ID = re.compile(TICKET_ID_PATTERN)
_ONE_LINE = re.compile(ONE_LINE_PATTERN)


PREMIUM_STATUSES = frozenset({"premium", "pro", "business", "enterprise"})


class CustomerTier(StrEnum):
    """The tier ops filter on (the CustomerTier search attribute): a closed set, so what a
    helpdesk or a sender writes as the account status never becomes a search value."""

    PREMIUM = "premium"
    STANDARD = "standard"
    FREE = "free"
    OTHER = "other"  # an account status we do not know
    UNKNOWN = "unknown"  # none on record

    @classmethod
    def of(cls, account_status: str | None) -> CustomerTier:
        status = (account_status or "").strip().lower()
        if not status:
            return cls.UNKNOWN
        if status in PREMIUM_STATUSES:
            return cls.PREMIUM
        if status in ("free", "trial"):
            return cls.FREE
        if status in ("standard", "basic", "plus", "starter", "personal"):
            return cls.STANDARD
        return cls.OTHER


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
            f"must be 1-{MAX_TICKET_ID_CHARS} letters, digits, '.', '_', ':' or '-', starting"
            " with a letter or digit"
        )
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
# Checked by the validators (with messages that name the problem), published in the schema.
Email = Annotated[
    str,
    Field(max_length=MAX_EMAIL_CHARS, json_schema_extra={"pattern": EMAIL_PATTERN}),
    AfterValidator(_email),
]
TicketId = Annotated[
    str,
    Field(max_length=MAX_TICKET_ID_CHARS, json_schema_extra={"pattern": TICKET_ID_PATTERN}),
    AfterValidator(_ticket_id),
]
Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]
Short = Annotated[str, Field(max_length=MAX_SHORT_CHARS)]


class Model(BaseModel):
    """camelCase on the wire, snake_case in Python; either is accepted on input."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def _json_size(value: Any) -> int:
    """Bytes as JSON, the way the Temporal converter (pydantic_core.to_json) writes it."""
    return len(to_json(value))


def _nests_deeper(value: Any, levels: int) -> bool:
    """Whether arrays and objects nest more than `levels` deep in `value` (a scalar: 0)."""
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return False
    return levels == 0 or any(_nests_deeper(item, levels - 1) for item in items)


def _extra_value(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """One undeclared value: any JSON, nested at most MAX_EXTRA_DEPTH, at most
    MAX_EXTRA_VALUE_BYTES as JSON. Depth is checked first, before anything walks the value."""
    if _nests_deeper(value, MAX_EXTRA_DEPTH):
        raise PydanticCustomError(
            "extra_too_deep",
            f"extra field nests arrays or objects more than {MAX_EXTRA_DEPTH} levels deep",
            {"max_depth": MAX_EXTRA_DEPTH},
        )
    value = handler(value)
    size = _json_size(value)
    if size > MAX_EXTRA_VALUE_BYTES:
        raise PydanticCustomError(
            "extra_too_large",
            f"extra field takes {size} bytes as JSON, at most {MAX_EXTRA_VALUE_BYTES}",
            {"size": size, "max_bytes": MAX_EXTRA_VALUE_BYTES},
        )
    return value


def _bounded_json_schema(levels: int) -> dict[str, Any]:
    """JSON Schema for a JSON value whose arrays and objects nest at most `levels` deep."""
    scalar: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
    if levels == 0:
        return scalar
    inner = _bounded_json_schema(levels - 1)
    return {
        "anyOf": [
            scalar,
            {"type": "array", "items": inner},
            {"type": "object", "additionalProperties": inner},
        ]
    }


ExtraValue = Annotated[
    JsonValue,
    WrapValidator(_extra_value),
    WithJsonSchema(
        {
            **_bounded_json_schema(MAX_EXTRA_DEPTH),
            "description": f"Any other context: a JSON value of at most {MAX_EXTRA_VALUE_BYTES}"
            f" bytes, arrays and objects nested at most {MAX_EXTRA_DEPTH} deep; at most"
            f" {MAX_EXTRA_FIELDS} such keys of at most {MAX_EXTRA_NAME_CHARS} characters,"
            f" {MAX_EXTRAS_BYTES} bytes together.",
        }
    ),
]


def _shown_key(key: str) -> str:
    return key if len(key) <= MAX_EXTRA_NAME_CHARS else key[:MAX_EXTRA_NAME_CHARS] + "…"


def _string_cap(field: FieldInfo) -> int | None:
    """The max_length on a field's string, whether on the field or inside `X | None`."""
    metadata = list(field.metadata)
    for arg in get_args(field.annotation):
        metadata += [
            meta
            for item in get_args(arg)[1:]
            if isinstance(item, FieldInfo)
            for meta in item.metadata
        ]
    caps = [cap for meta in metadata if (cap := getattr(meta, "max_length", None)) is not None]
    return min(caps) if caps else None


def string_caps(model: type[BaseModel]) -> dict[str, int]:
    """{wire name: max characters} of a model's capped string fields."""
    caps = {}
    for name, field in model.model_fields.items():
        cap = _string_cap(field)
        if cap is not None:
            caps[field.alias or name] = cap
    return caps


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
    category: Short | None = None
    urgency: Annotated[Urgency, BeforeValidator(_lower)]
    created_at: UtcDatetime
    customer_email: Email
    customer_name: Name | None = None
    auto_response_eligible: bool = False
    kb_matched: bool = False

    @property
    def text(self) -> str:
        """Subject and description, what triage reads."""
        return f"{self.subject}\n{self.description}".strip()


class ContextModel(Model):
    """A context object (customer, history, technicalContext): the declared fields, plus any
    other keys the ticketing system knows about ("extras"), kept and capped."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, ExtraValue] = Field(init=False)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        target["maxProperties"] = len(cls.model_fields) + MAX_EXTRA_FIELDS
        target["propertyNames"] = {"maxLength": MAX_EXTRA_NAME_CHARS}
        published: dict[str, Any] = schema
        return published

    @model_validator(mode="wrap")
    @classmethod
    def _extras_within_caps(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """Count and name the extras before validating them; their total size after."""
        if not isinstance(data, dict):
            return handler(data)
        declared = {*cls.model_fields, *(f.alias for f in cls.model_fields.values())}
        extra = [key for key in data if key not in declared]
        if len(extra) > MAX_EXTRA_FIELDS:
            raise PydanticCustomError(
                "too_many_extra_fields",
                f"has {len(extra)} extra fields, at most {MAX_EXTRA_FIELDS}",
                {"count": len(extra), "max_fields": MAX_EXTRA_FIELDS},
            )
        long_names = [k for k in extra if isinstance(k, str) and len(k) > MAX_EXTRA_NAME_CHARS]
        if long_names:
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "extra_name_too_long",
                            f"extra field name has {len(key)} characters, at most"
                            f" {MAX_EXTRA_NAME_CHARS}",
                            {"length": len(key), "max_length": MAX_EXTRA_NAME_CHARS},
                        ),
                        loc=(_shown_key(key),),
                        input=key,
                    )
                    for key in long_names
                ],
            )
        model = handler(data)
        size = _json_size(model.model_extra) if model.model_extra else 0
        if size > MAX_EXTRAS_BYTES:
            raise PydanticCustomError(
                "extras_too_large",
                f"extra fields take {size} bytes as JSON together, at most {MAX_EXTRAS_BYTES}",
                {"size": size, "max_bytes": MAX_EXTRAS_BYTES},
            )
        return model


class Customer(ContextModel):
    user_id: Name | None = None
    account_status: Annotated[Short | None, BeforeValidator(_lower)] = None
    account_age: Short | None = None
    total_galleries: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    total_photos: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    last_login: UtcDatetime | None = None


class History(ContextModel):
    previous_tickets: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    last_ticket_date: date | None = None
    last_ticket_resolution: Annotated[str, Field(max_length=MAX_RESOLUTION_CHARS)] | None = None
    average_resolution_time: Short | None = None


class TechnicalContext(ContextModel):
    last_upload_attempt: UtcDatetime | None = None
    upload_status: Short | None = None
    error_code: Short | None = None
    browser_info: Annotated[str, Field(max_length=MAX_BROWSER_INFO_CHARS)] | None = None
    file_size: Short | None = None
    file_count: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    last_successful_upload: UtcDatetime | None = None
    # How many users the ticketing system or monitoring already knows to be affected.
    affected_users: int | None = Field(default=None, ge=0, le=MAX_COUNT)


CONTEXT_MODELS: dict[str, type[ContextModel]] = {
    "customer": Customer,
    "history": History,
    "technicalContext": TechnicalContext,
}


def _clip_context(model: type[ContextModel], value: Any) -> Any:
    """`value` (a model, or its fields as a dict) with each declared string cut to its cap."""
    caps = {name: cap for name, field in model.model_fields.items() if (cap := _string_cap(field))}
    if isinstance(value, model):
        cut = {
            name: text[:cap]
            for name, cap in caps.items()
            if isinstance(text := getattr(value, name), str) and len(text) > cap
        }
        return value.model_copy(update=cut) if cut else value
    if isinstance(value, dict):
        for name, cap in list(caps.items()):
            caps[model.model_fields[name].alias or name] = cap
        return {
            key: item[: caps[key]] if isinstance(item, str) and key in caps else item
            for key, item in value.items()
        }
    return value


class TicketPayload(Model):
    """Contract 1: what the ticketing system hands us."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "Contract 1: what the ticketing system hands us. The ticket and"
            f" every extra field take at most {MAX_PAYLOAD_BYTES} bytes together as JSON."
        }
    )

    ticket: Ticket
    customer: Customer | None = None
    history: History | None = None
    technical_context: TechnicalContext | None = None

    @property
    def capped_size(self) -> int:
        """What MAX_PAYLOAD_BYTES counts: the ticket and every extra field, as JSON bytes."""
        return _json_size(self.ticket) + sum(
            _json_size(section.model_extra)
            for section in (self.customer, self.history, self.technical_context)
            if section is not None and section.model_extra
        )

    @model_validator(mode="after")
    def _within_payload_cap(self) -> TicketPayload:
        size = self.capped_size
        if size > MAX_PAYLOAD_BYTES:
            raise PydanticCustomError(
                "payload_too_large",
                f"the ticket and the extra fields take {size} bytes as JSON, at most"
                f" {MAX_PAYLOAD_BYTES}",
                {"size": size, "max_bytes": MAX_PAYLOAD_BYTES},
            )
        return self


def _payload_caps() -> dict[str, int]:
    sections: dict[str, type[BaseModel]] = {"ticket": Ticket, **CONTEXT_MODELS}
    return {
        f"{section}.{name}": cap
        for section, model in sections.items()
        for name, cap in string_caps(model).items()
    }


# Every capped string of Contract 1 by its wire path ("technicalContext.browserInfo": 500),
# for the docs and the tests.
PAYLOAD_STRING_CAPS: dict[str, int] = _payload_caps()


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

    @model_validator(mode="before")
    @classmethod
    def _context_within_caps(cls, data: Any) -> Any:
        """Step 1 fills the context in from the database, whose columns have no caps: a longer
        value is cut to the field's cap, so the package (and each payload rebuilt from it)
        still validates wherever Temporal decodes it."""
        if not isinstance(data, dict):
            return data
        for wire, model in CONTEXT_MODELS.items():
            for key in (wire, to_snake(wire)):
                if key in data:
                    data = {**data, key: _clip_context(model, data[key])}
        return data

    @property
    def premium(self) -> bool:
        return self.tier is CustomerTier.PREMIUM

    @property
    def tier(self) -> CustomerTier:
        return CustomerTier.of(self.customer.account_status)

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
