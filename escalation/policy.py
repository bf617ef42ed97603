"""The escalation policy (seed Steps 2-3; docs/contracts/policy.md): data in ``config/policy.toml``,
validated once into typed models here so rules read models, never raw dicts.

A typo anywhere — an unknown team, priority "P5", duration "2hrs", an unknown key, a dangling
scenario reference, a duplicate id, a broken regular expression or playbook template — raises
:class:`PolicyError` with one message naming the key path, e.g.
``config/policy.toml: scenarios[3].team: unknown team 'enginering' (known: billing, ...)``.

The patterns are compiled by :mod:`escalation.matching` and the playbooks checked by
:mod:`escalation.playbooks`; both build on these models, so this module imports them only
inside the functions that call them (no import cycle).

Pure domain code: no I/O at import time (``load_policy`` reads the file when called).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from escalation.models import Email, Priority
from escalation.sentiment import SentimentThresholds
from escalation.sla import SlaRules

if TYPE_CHECKING:
    from escalation.matching import CompiledPolicy

# ---------------------------------------------------------------------------------------------
# Errors and durations
# ---------------------------------------------------------------------------------------------


class PolicyError(Exception):
    """One clear message: ``<source>: <key path>: <problem>``.

    Not a ValueError on purpose: pydantic must not swallow it into a ValidationError.
    """

    def __init__(self, path: str, problem: str, source: str = "policy") -> None:
        self.path = path
        self.problem = problem
        self.source = source
        super().__init__(f"{source}: {path}: {problem}" if path else f"{source}: {problem}")

    def at(self, source: str) -> PolicyError:
        return PolicyError(self.path, self.problem, source)


_DURATION = re.compile(
    r"^\s*(\d+)\s*(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hour|hours|d|day|days)"
    r"\s*$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.lru_cache(maxsize=256)
def parse_duration_seconds(text: str) -> int:
    """Seconds in "30s", "15m", "15 min", "1h", "4 hours", "24h", "1d" or "immediate" (0).

    Raises ValueError for anything else ("2hrs", "soon"): an SLA must be unambiguous. Seconds
    exist for test and benchmark policies with second-scale targets. Cached: triage reads a
    scenario's response target for every candidate it ranks.
    """
    if text.strip().lower() == "immediate":
        return 0
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"invalid duration {text!r}: use e.g. '15m', '1h', '4 hours', '1d' or 'immediate'"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]


def parse_duration(text: str) -> int:
    """Whole minutes of a duration (see parse_duration_seconds)."""
    return parse_duration_seconds(text) // 60


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


def _check_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+\S*$", value):
        raise ValueError(f"invalid URL {value!r}: must start with http:// or https://")
    return value


def _check_host(value: str) -> str:
    host = value.strip().lower().rstrip(".")
    if not re.fullmatch(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}", host):
        raise ValueError(
            f"invalid host name {value!r}: a name like help.example.com, without scheme or path"
        )
    return host


Duration = Annotated[str, AfterValidator(_check_duration)]
HostName = Annotated[str, AfterValidator(_check_host)]
Url = Annotated[str, AfterValidator(_check_url)]
ScenarioId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Kind = Literal["problem", "request", "question"]

# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    """Unknown keys are typos: refuse them. Frozen: a policy never changes once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TeamConfig(_Strict):
    display_name: Annotated[str, Field(min_length=1)]
    email: Email
    manager_email: Email
    webhook_url: Url | None = None
    channels: Annotated[list[Literal["email", "webhook"]], Field(min_length=1)] = ["email"]


class _ResponseTarget:
    """Reads a model's `response` duration in minutes (the contract) or seconds (the clock).
    A plain mixin: the models declare the field themselves, where their key order wants it."""

    @property
    def response_minutes(self) -> int:
        return parse_duration(self.response)  # type: ignore[attr-defined]  # the model's field

    @property
    def response_seconds(self) -> int:
        return parse_duration_seconds(self.response)  # type: ignore[attr-defined]  # ditto


class PriorityConfig(_Strict, _ResponseTarget):
    label: Annotated[str, Field(min_length=1)]
    response: Duration
    indicator: str = ""
    immediate_alert: bool = False


class Priorities(_Strict):
    P0: PriorityConfig
    P1: PriorityConfig
    P2: PriorityConfig
    P3: PriorityConfig

    def get(self, priority: Priority | str) -> PriorityConfig:
        config: PriorityConfig = getattr(self, Priority(priority).value)
        return config


class Scenario(_Strict, _ResponseTarget):
    id: ScenarioId
    label: Annotated[str, Field(min_length=1)]
    team: str
    priority: Priority
    response: Duration
    kind: Kind
    reason: Annotated[str, Field(min_length=1)]
    impact: str | None = None
    # What the customer's acknowledgement says their message is about ("the missing photos
    # from your account"): our words, never theirs.
    customer_topic: Annotated[str, Field(min_length=1, max_length=120)] = "your request"
    # Ticketing-system categories that name this scenario exactly: they decide when the text
    # shows nothing more severe.
    categories: list[str] = []
    # Area labels ("billing", "account"): read only when the text names no scenario at all.
    hint_categories: list[str] = []
    signals: list[str] = []
    not_signals: list[str] = []
    weight: Annotated[float, Field(gt=0, le=10)] = 1.0
    legal: bool = False
    several_users: str | None = None
    premium_scenario: str | None = None
    playbook: list[str] = []


class TriggerConfig(_Strict):
    urgency_levels: list[Literal["critical", "high", "medium", "low"]] = ["critical", "high"]
    meaning_priorities: list[Priority] = [Priority.P0, Priority.P1]
    legal_terms: list[str] = []


class SentimentConfig(_Strict):
    angry_points: Annotated[int, Field(ge=1)] = 2
    angry_tone: Annotated[float, Field(ge=-1, le=1)] = -0.5
    frustrated_tone: Annotated[float, Field(ge=-1, le=1)] = -0.35
    positive_tone: Annotated[float, Field(ge=-1, le=1)] = 0.5
    dissatisfied_labels: list[
        Literal["angry", "frustrated", "frustrated but polite", "calm", "positive"]
    ] = ["angry", "frustrated", "frustrated but polite"]

    def thresholds(self) -> SentimentThresholds:
        return SentimentThresholds(
            angry_points=self.angry_points,
            angry_tone=self.angry_tone,
            frustrated_tone=self.frustrated_tone,
            positive_tone=self.positive_tone,
        )


class Modifiers(_Strict):
    premium_problem_min: Priority = Priority.P1
    angry_complaint_min: Priority = Priority.P1
    several_users_min_reports: Annotated[int, Field(ge=2)] = 3
    several_users_window: Duration = "24h"
    several_users_signals: list[str] = []

    @property
    def several_users_window_minutes(self) -> int:
        return parse_duration(self.several_users_window)


class TimeSensitivityConfig(_Strict):
    events: list[str] = []
    weak_times: list[str] = []
    strong_times: list[str] = []
    deadlines: list[str] = []


class AtStakeConfig(_Strict):
    nouns: str
    emotional: list[str] = []
    ignore: list[str] = []


class NegationConfig(_Strict):
    words: list[str] = []
    except_after: list[str] = []
    fillers: list[str] = []
    clause_starters: list[str] = []
    # Words that end a clause as "but" does (a negation before them does not reach past them).
    clause_breaks: list[str] = []
    window: Annotated[int, Field(ge=1, le=8)] = 3


class PhraseSet(_Strict):
    """Phrases that change how the signals near them read (resolution, hypotheticals)."""

    signals: list[str] = []


class LanguagesConfig(_Strict):
    """The languages triage reads besides English: one lexicon file each, beside the policy."""

    files: list[str] = []


class LexiconNegation(_Strict):
    words: list[str] = []
    # English negation words that mean something else in this language (Portuguese "no").
    drop: list[str] = []
    except_after: list[str] = []
    fillers: list[str] = []
    clause_starters: list[str] = []
    clause_breaks: list[str] = []


class LexiconTriggers(_Strict):
    legal_terms: list[str] = []
    # Look-alikes that cancel a legal term here (Brazilian "que legal!" is "how cool!").
    not_legal_terms: list[str] = []


class LexiconModifiers(_Strict):
    several_users_signals: list[str] = []


class LexiconSentiment(_Strict):
    anger: list[str] = []
    frustration: list[str] = []
    polite: list[str] = []
    delight: list[str] = []
    # Thanks: like delight, they make capitals and "!!!" emphatic rather than angry.
    gratitude: list[str] = []
    idioms: list[str] = []


class LexiconAtStake(_Strict):
    nouns: str | None = None
    emotional: list[str] = []


class LexiconScenario(_Strict):
    signals: list[str] = []
    not_signals: list[str] = []


class Lexicon(_Strict):
    """One language's words for the policy's meanings (config/languages/<code>.toml): each list
    is read together with the English list of the same name for tickets in that language."""

    language: Annotated[str, Field(pattern=r"^[a-z]{2}$")]
    name: Annotated[str, Field(min_length=1)]
    vocabulary: dict[str, str] = {}
    negation: LexiconNegation = LexiconNegation()
    triggers: LexiconTriggers = LexiconTriggers()
    modifiers: LexiconModifiers = LexiconModifiers()
    time_sensitivity: TimeSensitivityConfig = TimeSensitivityConfig()
    sentiment: LexiconSentiment = LexiconSentiment()
    resolution: PhraseSet = PhraseSet()
    hypothetical: PhraseSet = PhraseSet()
    at_stake: LexiconAtStake = LexiconAtStake()
    scenarios: dict[str, LexiconScenario] = {}


class Defaults(_Strict):
    fallback_scenario: str


class MonitoringConfig(_Strict):
    """Step 8: when the SLA clock alerts, warns, escalates to a manager and follows up."""

    warning_at: Annotated[float, Field(gt=0, lt=1)] = 0.75
    manager_escalation_after: Duration = "4h"
    manager_escalation_priorities: list[Priority] = [Priority.P0, Priority.P1]
    reply_alert_priorities: list[Priority] = [Priority.P0, Priority.P1]
    satisfaction_alert_priorities: list[Priority] = [Priority.P0, Priority.P1]
    satisfaction_alert_below: Annotated[int, Field(ge=1, le=5)] = 3
    daily_check_every: Duration = "24h"
    daily_check_priorities: list[Priority] = [Priority.P2, Priority.P3]
    no_progress_after: Duration = "48h"
    no_progress_priorities: list[Priority] = [Priority.P2, Priority.P3]
    # Step 5 runs alongside the escalation; a relay that stays down this long is given up on
    # and the team is told the customer could not be notified.
    acknowledgement_give_up: Duration = "6h"


class DeEscalationConfig(_Strict):
    """Seed "De-escalation": what counts as a quick resolution and when one becomes knowledge."""

    # "If human agent resolves quickly": resolved within this share of the response target,
    # counted from the first human response (time waiting on the customer excluded).
    quick_within: Annotated[float, Field(gt=0)] = 0.5
    # A customer reply this soon after the resolution reopens the ticket as a new episode;
    # later, the helpdesk must send it as a new ticket.
    reopen_within: Duration = "7d"
    # "Learn from solution": a pattern resolved quickly this many times drafts a KB article
    # and an auto-response candidate for a human to approve.
    pattern_min_occurrences: Annotated[int, Field(ge=1)] = 3
    # A pattern without an error code matches a new ticket of its scenario when the ticket
    # carries at least this share of the pattern's symptom terms.
    symptom_overlap: Annotated[float, Field(gt=0, le=1)] = 0.6
    # A ticket matching an approved known solution still goes to a human when it is critical
    # (upstream urgency or by meaning), angry, or uses legal language (always).
    known_solution_escalates_urgency: list[Literal["critical", "high", "medium", "low"]] = [
        "critical"
    ]
    known_solution_escalates_priority: list[Priority] = [Priority.P0]
    known_solution_escalates_sentiment: list[
        Literal["angry", "frustrated", "frustrated but polite", "calm", "positive"]
    ] = ["angry"]
    # Our own hosts (help centre, product): their links and email addresses are kept in the KB
    # drafts and auto-responses learned from customers' tickets; every other link, email
    # address, phone number and identifier is redacted (escalation/redaction.py).
    our_hosts: list[HostName] = []


class Policy(_Strict):
    """The whole policy. Use :func:`load_policy` / :func:`parse_policy` to get one."""

    version: Literal[1] = 1
    defaults: Defaults
    teams: dict[str, TeamConfig]
    priorities: Priorities
    triggers: TriggerConfig = TriggerConfig()
    sentiment: SentimentConfig = SentimentConfig()
    modifiers: Modifiers = Modifiers()
    time_sensitivity: TimeSensitivityConfig = TimeSensitivityConfig()
    at_stake: AtStakeConfig
    negation: NegationConfig = NegationConfig()
    # "Found them, never mind": the problem named before it went away.
    resolution: PhraseSet = PhraseSet()
    # "If this ever happened...": a scenario in the same sentence is not happening.
    hypothetical: PhraseSet = PhraseSet()
    vocabulary: dict[str, str] = {}
    scenarios: Annotated[list[Scenario], Field(min_length=1)]
    languages: LanguagesConfig = LanguagesConfig()
    # Filled from `languages.files` by the loader, keyed by language code.
    lexicons: dict[str, Lexicon] = {}
    monitoring: MonitoringConfig = MonitoringConfig()
    de_escalation: DeEscalationConfig = DeEscalationConfig()

    _compiled: CompiledPolicy | None = PrivateAttr(default=None)
    _files: tuple[Path, ...] = PrivateAttr(default=())

    @property
    def files(self) -> tuple[Path, ...]:
        """The files this policy was read from (the policy, then its lexicons), to watch."""
        return self._files

    def team(self, name: str) -> TeamConfig:
        try:
            return self.teams[name]
        except KeyError:
            known = ", ".join(sorted(self.teams))
            raise KeyError(f"unknown team {name!r} (known: {known})") from None

    def scenario(self, scenario_id: str) -> Scenario:
        return self.scenarios[self.compiled.scenario_index[scenario_id]]

    def has_scenario(self, scenario_id: str) -> bool:
        return scenario_id in self.compiled.scenario_index

    def sla_rules(self) -> SlaRules:
        """The monitoring rules in seconds, as the workflow carries them."""
        m = self.monitoring
        priorities = {
            priority: self.priorities.get(priority).response_seconds for priority in Priority
        }
        return SlaRules(
            warning_fraction=m.warning_at,
            manager_escalation_after=parse_duration_seconds(m.manager_escalation_after),
            manager_escalation_priorities=m.manager_escalation_priorities,
            immediate_alert_priorities=[
                p for p in Priority if self.priorities.get(p).immediate_alert
            ],
            reply_alert_priorities=m.reply_alert_priorities,
            satisfaction_alert_priorities=m.satisfaction_alert_priorities,
            satisfaction_alert_below=m.satisfaction_alert_below,
            daily_check_every=parse_duration_seconds(m.daily_check_every),
            daily_check_priorities=m.daily_check_priorities,
            no_progress_after=parse_duration_seconds(m.no_progress_after),
            no_progress_priorities=m.no_progress_priorities,
            response_targets=priorities,
            teams=sorted(self.teams),
            angry_complaint_min=self.modifiers.angry_complaint_min,
            acknowledgement_give_up=parse_duration_seconds(m.acknowledgement_give_up),
            reopen_within=parse_duration_seconds(self.de_escalation.reopen_within),
        )

    @property
    def fallback(self) -> Scenario:
        return self.scenario(self.defaults.fallback_scenario)

    @property
    def compiled(self) -> CompiledPolicy:
        """Patterns and indexes, built and cross-checked once (raises PolicyError), and shared
        by every policy of the same content in this process (see `_COMPILED`)."""
        private = self.__pydantic_private__  # plain dict: hot path, skip pydantic's __getattr__
        compiled = private.get("_compiled") if private else None
        if compiled is None:
            from escalation.matching import _compile

            key = hashlib.sha256(self.model_dump_json().encode()).digest()
            compiled = _COMPILED.get(key)
            if compiled is None:
                compiled = _compile(self)
                _COMPILED[key] = compiled
                while len(_COMPILED) > _COMPILED_KEPT:
                    _COMPILED.pop(next(iter(_COMPILED)))
            self._compiled = compiled
        return compiled


# Compiling a policy's patterns takes seconds (thousands of phrases in seven languages), and a
# process loads the same file again and again: the worker on every policy change check, the
# web app, each test. The compiled form depends on the policy's content only (a validated
# model, dumped to JSON in milliseconds), so equal policies share it; it is never mutated but
# for the readers of languages it builds when first needed, which are the same for all.
_COMPILED: dict[bytes, CompiledPolicy] = {}
_COMPILED_KEPT = 16


def normalise_category(category: str) -> str:
    """Ticketing-system category as a key: "Data Loss" / "data-loss" -> "data_loss"."""
    return re.sub(r"[\s\-/]+", "_", category.strip().lower())


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _loc_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class that owns the last key of ``loc`` (to list allowed keys)."""
    current: Any = Policy
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            current = info.annotation
        else:
            args = [a for a in get_args(current) if a is not type(None)]
            origin = get_origin(current)
            if origin is Annotated:
                current = args[0]
                args = [a for a in get_args(current) if a is not type(None)]
                origin = get_origin(current)
            if origin in (list, dict):
                current = args[-1]
            elif args:
                current = args[0]
            else:
                return None
        while get_origin(current) is Annotated:
            current = get_args(current)[0]
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _describe(error: ValidationError) -> PolicyError:
    """The first problem as one line; a misspelt key is reported before the key it misses."""
    errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    item = errors[0]
    loc = item["loc"]
    path = _loc_path(loc)
    kind = item["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc)
        allowed = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listed = f" (allowed: {', '.join(allowed)}{hint})" if allowed else ""
        problem = f"unknown key {str(loc[-1])!r}{listed}"
    elif kind == "missing":
        problem = "missing"
    elif kind == "enum" and "'P0'" in str(item.get("ctx", {}).get("expected", "")):
        problem = f"unknown priority {item['input']!r} (known: P0, P1, P2, P3)"
    else:
        message = item["msg"].removeprefix("Value error, ")
        if "input" in item and not isinstance(item["input"], dict | list):
            if repr(item["input"]) not in message:
                message = f"{message} (got {item['input']!r})"
        problem = message
    more = len(error.errors()) - 1
    if more:
        problem += f" (and {more} more problem{'s' if more > 1 else ''})"
    return PolicyError(path, problem)


def _read_lexicons(raw: dict[str, Any], base: Path | None, source: str) -> dict[str, str]:
    """Put each `languages.files` lexicon under `lexicons.<code>`; return code -> file name."""
    files = (
        raw.get("languages", {}).get("files", []) if isinstance(raw.get("languages"), dict) else []
    )
    names: dict[str, str] = {}
    if not isinstance(files, list):
        return names
    lexicons = raw.setdefault("lexicons", {})
    for i, name in enumerate(files):
        path = f"languages.files[{i}]"
        if not isinstance(name, str):
            raise PolicyError(path, f"expected a file name, got {name!r}", source)
        location = (base / name) if base is not None else Path(name)
        try:
            lexicon = tomllib.loads(location.read_text(encoding="utf-8"))
        except OSError as error:
            raise PolicyError(
                path, f"cannot read {name}: {error.strerror or error}", source
            ) from None
        except tomllib.TOMLDecodeError as error:
            raise PolicyError("", f"invalid TOML: {error}", str(location)) from None
        code = lexicon.get("language")
        if not isinstance(code, str):
            raise PolicyError("language", "missing (the ISO 639-1 code, e.g. 'es')", str(location))
        if code in lexicons or code == "en":
            raise PolicyError(path, f"language {code!r} is defined twice", source)
        lexicons[code] = lexicon
        names[code] = str(location)
    return names


def anchored(text: str, base: Path) -> str:
    """The policy text with its lexicon paths made absolute against ``base``, for a copy written
    elsewhere (a test's or the benchmark's derived policy) that should read the same lexicons."""
    files = tomllib.loads(text).get("languages", {}).get("files", [])
    for name in files:
        if isinstance(name, str) and not Path(name).is_absolute():
            absolute = (base / name).resolve().as_posix()
            text = text.replace(f'"{name}"', f'"{absolute}"').replace(f"'{name}'", f"'{absolute}'")
    return text


def parse_policy(text: str, source: str = "policy", base: Path | None = None) -> Policy:
    """Validate a policy document once; every problem raises PolicyError naming the key.

    Lexicon files named in `languages.files` are read relative to ``base``; a problem in one is
    reported against that file.
    """
    from escalation.playbooks import _check_playbooks

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError("", f"invalid TOML: {error}", source) from None
    lexicon_files = _read_lexicons(raw, base, source)
    try:
        policy = Policy.model_validate(raw)
        policy.compiled  # noqa: B018 - compile and cross-check now, not on the first ticket
        _check_playbooks(policy)
    except ValidationError as error:
        raise _in_lexicon(_describe(error), lexicon_files, source) from None
    except PolicyError as error:
        raise _in_lexicon(error, lexicon_files, source) from None
    policy._files = tuple(Path(name) for name in lexicon_files.values())
    return policy


def _in_lexicon(error: PolicyError, files: dict[str, str], source: str) -> PolicyError:
    """Report `lexicons.<code>.x` against the lexicon's own file as `x`."""
    match = re.match(r"^lexicons\.([a-z]{2})(?:\.(.*))?$", error.path)
    if match and match.group(1) in files:
        return PolicyError(match.group(2) or "", error.problem, files[match.group(1)])
    return error.at(source)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file (call from an activity or the CLI, never a workflow)."""
    location = Path(path)
    try:
        text = location.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError("", f"cannot read policy: {error.strerror or error}", str(path)) from None
    policy = parse_policy(text, str(path), location.parent)
    policy._files = (location, *policy.files)
    return policy
