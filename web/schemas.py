"""Request and response bodies of the HTTP API: camelCase on the wire like the contracts, and
each declared on its route so `/openapi.json` describes the API completely."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StrictBool

from escalation import models
from escalation.messages import MAX_COMMENT_CHARS, MAX_NOTE_CHARS
from escalation.models import MAX_DESCRIPTION_CHARS, Model, Priority, UtcDatetime

# PostgreSQL text and jsonb refuse NUL, and the workflow logs what agents and customers write:
# refuse it at the door (422) rather than leave an activity retrying forever.
NO_NUL = r"^[^\x00]*$"
TICKET_ID_PATTERN = models.TICKET_ID_PATTERN  # Contract 1's rule, one source
TEAM_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


def _text_only(value: object) -> object:
    """Timestamps arrive as ISO-8601 text; a bare number is refused, not read as epoch seconds
    (what the spec's `format: date-time` promises)."""
    if not isinstance(value, str | None):
        raise ValueError("must be an ISO-8601 date-time string")
    return value


def _number_only(value: object) -> object:
    """JSON integers, 3.0 included (JSON Schema counts it as an integer); no "3", no true."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer")
    return value


IsoDatetime = Annotated[UtcDatetime, BeforeValidator(_text_only)]
# The workflow messages' own caps (escalation/messages.py): a longer text would pass the door
# and then fail building the message (500), so the API refuses it with 422 instead.
ShortText = Annotated[str, Field(max_length=MAX_COMMENT_CHARS, pattern=NO_NUL)]
LongText = Annotated[str, Field(max_length=MAX_NOTE_CHARS, pattern=NO_NUL)]


class ErrorDetail(Model):
    """Why a request was refused (401, 403, 404, 409, 503, 504)."""

    detail: str


class Health(Model):
    ok: bool


class Readiness(Model):
    """`/readyz`: 200 when both dependencies answer, 503 (with Retry-After) otherwise."""

    ready: bool
    postgres: Literal["up", "down"]
    temporal: Literal["up", "down"]


class TicketAccepted(Model):
    """The ticket's escalation run: started now (202) or found running (200).

    A ticket whose previous escalation has finished starts a new episode: `reopened` true,
    `previousRunId` the finished run (when Temporal still keeps it). `episodeId` is the
    episode's id (its first run id); the workflow numbers the episode from the database."""

    ticket_id: str
    workflow_id: str
    run_id: str
    started: bool
    reopened: bool = False
    episode_id: str | None = None
    previous_run_id: str | None = None
    reopened_because: str | None = None
    dashboard_url: str
    temporal_ui_url: str


class CustomerReplyRequest(Model):
    """A customer reply forwarded by the ticketing system. `ticketId` repeats the path's
    ticket so that it is covered by the signature: a delivery posted to another ticket's path
    is refused (400)."""

    ticket_id: Annotated[str, Field(pattern=TICKET_ID_PATTERN)]
    text: Annotated[str, Field(min_length=1, max_length=MAX_DESCRIPTION_CHARS, pattern=NO_NUL)]
    at: IsoDatetime | None = None


class ReplyAccepted(Model):
    """The reply reached the open escalation (`signalled` "customer_replied"), or reopened the
    resolved ticket as a new episode (`reopened` true, `signalled` null, `runId` the new run,
    `previousRunId` the resolved one)."""

    ticket_id: str
    workflow_id: str
    signalled: str | None
    reopened: bool = False
    run_id: str | None = None
    previous_run_id: str | None = None
    reopened_because: str | None = None


class SatisfactionRequest(Model):
    """A CSAT score from the ticketing system. `ticketId` repeats the path's ticket so that it
    is covered by the signature: a delivery posted to another ticket's path is refused (400)."""

    ticket_id: Annotated[str, Field(pattern=TICKET_ID_PATTERN)]
    score: Annotated[int, Field(ge=1, le=5), BeforeValidator(_number_only)]
    comment: ShortText | None = None


class RespondRequest(Model):
    """The agent's response; the first one stops the response clock."""

    note: LongText | None = None


class WaitRequest(Model):
    """The question the agent asked; the resolution clock pauses until the customer replies."""

    question: LongText | None = None


class ReassignRequest(Model):
    """Hand the ticket to another team and/or change its priority (either may be left out to
    keep it); the workflow refuses unknown teams and a request that changes nothing (409)."""

    team: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)] | None = None
    reason: ShortText | None = None
    priority: Priority | None = None


class ResolveRequest(Model):
    """How the ticket was resolved, and whether escalating it was necessary (accuracy metric):
    required, so the question is answered by the agent, never defaulted."""

    resolution: Annotated[str, Field(min_length=1, max_length=MAX_NOTE_CHARS, pattern=NO_NUL)]
    escalation_necessary: StrictBool


class Indicator(Model):
    """A queue indicator: the words a screen reader says for it (`label`), the short words
    its badge shows (`text`), the CSS hook that draws its shape and colour (`kind`: p0..p3,
    premium, time-sensitive), and the seed's emoji (`symbol`), for clients that want one: the
    dashboard draws none, so no indicator depends on an emoji font."""

    symbol: str
    label: str
    kind: str
    text: str


class QueueItem(Model):
    ticket_id: str
    workflow_id: str
    state: str
    team: str
    priority: str
    subject: str | None
    customer_name: str | None
    premium: bool
    time_sensitive: bool
    sentiment: str | None
    scenario: str | None
    escalated_at: datetime
    sla_due_at: datetime | None
    # The escalation episode: a ticket escalated again (reopened) shows its number.
    episode_id: str
    episode: int = 1
    reopened: bool = False
    reopened_because: str | None = None
    # The clock is paused while the ticket waits on the customer: no countdown then.
    paused: bool = False
    # None while the acknowledgement is on its way; False with `customerNotice` saying why.
    customer_notified: bool | None = None
    customer_notice: str | None = None
    url: str
    indicators: list[Indicator]


class QueueResponse(Model):
    """Open escalations, most urgent first (priority, then next SLA deadline)."""

    team: str | None
    generated_at: datetime
    items: list[QueueItem]
    # Pass as `after` for the next page; null on the last page.
    next_cursor: str | None = None


# --- learned patterns (web/knowledge.py) ---------------------------------------------------

SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"


class PatternReview(Model):
    """What the approver read: the `textSha256` of the pattern as they saw it. Given, an
    approval of a text changed since is refused (409)."""

    reviewed_sha256: Annotated[str, Field(pattern=SHA256_PATTERN)] | None = None


class PatternEdit(Model):
    """A draft's new text (a field left out stays as it is)."""

    title: Annotated[str, Field(min_length=1, max_length=300, pattern=NO_NUL)] | None = None
    article_markdown: (
        Annotated[str, Field(min_length=1, max_length=20_000, pattern=NO_NUL)] | None
    ) = None
    auto_response: Annotated[str, Field(min_length=1, max_length=20_000, pattern=NO_NUL)] | None = (
        None
    )


class PatternRevoke(Model):
    reason: Annotated[str, Field(max_length=300, pattern=NO_NUL)] | None = None
