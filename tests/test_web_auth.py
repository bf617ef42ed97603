"""Webhook signatures, deliveries' first answers and agent tokens (web/auth.py): unsigned,
stale or forged requests are refused, a delivery keeps its first answer, and no plain token is
ever written to disk."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from web.auth import (
    Agent,
    AgentConfigError,
    AgentDirectory,
    WebhookAuthError,
    WebhookVerifier,
    bearer_token,
    first_answer,
    forget_deliveries,
    hash_token,
    keep_answer,
    new_token,
    parse_secret,
    sign,
    write_agents_file,
)

ROOT = Path(__file__).resolve().parent.parent
OLD = b"old-secret-0123456789abcdef"
NEW = b"new-secret-fedcba9876543210"
NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
BODY = b'{"ticket": {"ticket_id": "T-1", "subject": "upload fails"}}'


def signed_headers(
    secret: bytes = NEW, body: bytes = BODY, at: datetime = NOW, webhook_id: str | None = None
) -> dict[str, str]:
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(at.timestamp())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }


def refusal(verifier: WebhookVerifier, headers: dict[str, str], body: bytes = BODY) -> str:
    with pytest.raises(WebhookAuthError) as caught:
        verifier.verify(headers, body, NOW)
    return caught.value.reason


# --- signatures -------------------------------------------------------------------------------


def test_valid_signature_passes_and_returns_the_webhook_id() -> None:
    headers = signed_headers()
    assert WebhookVerifier([NEW]).verify(headers, BODY, NOW) == headers["webhook-id"]


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    """The example from the Standard Webhooks spec, so real helpdesks interoperate."""
    secret = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    headers = {
        "Webhook-Id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "Webhook-Timestamp": "1614265330",
        "Webhook-Signature": expected,
    }
    at = datetime.fromtimestamp(1614265330, UTC)
    assert WebhookVerifier([secret]).verify(headers, body, at) == "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_headers_are_looked_up_case_insensitively() -> None:
    headers = {name.upper(): value for name, value in signed_headers().items()}
    assert WebhookVerifier([NEW]).verify(headers, BODY, NOW) == headers["WEBHOOK-ID"]


def test_unsigned_request_is_refused() -> None:
    assert refusal(WebhookVerifier([NEW]), {}) == "missing webhook-id header"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_missing_header_is_named(missing: str) -> None:
    headers = signed_headers()
    del headers[missing]
    assert refusal(WebhookVerifier([NEW]), headers) == f"missing {missing} header"


def test_wrong_secret_is_refused() -> None:
    headers = signed_headers(secret=b"an-attacker-guessed-this-secret")
    assert refusal(WebhookVerifier([NEW]), headers) == "no signature matches"


def test_stale_timestamp_is_refused_even_with_a_valid_signature() -> None:
    headers = signed_headers(at=NOW - timedelta(minutes=6))
    assert refusal(WebhookVerifier([NEW]), headers) == "timestamp outside the 5-minute tolerance"


def test_future_timestamp_beyond_tolerance_is_refused() -> None:
    headers = signed_headers(at=NOW + timedelta(minutes=6))
    assert refusal(WebhookVerifier([NEW]), headers) == "timestamp outside the 5-minute tolerance"


def test_small_clock_skew_either_way_is_accepted() -> None:
    verifier = WebhookVerifier([NEW])
    for skew in (timedelta(minutes=-5), timedelta(minutes=4, seconds=59)):
        headers = signed_headers(at=NOW + skew)
        assert verifier.verify(headers, BODY, NOW) == headers["webhook-id"]


@pytest.mark.parametrize("timestamp", ["soon", "1.5e9", "-5", "+1741089600", "1_741_089_600", ""])
def test_non_integer_timestamp_is_refused(timestamp: str) -> None:
    headers = signed_headers()
    headers["webhook-timestamp"] = timestamp
    reason = refusal(WebhookVerifier([NEW]), headers)
    assert reason in ("webhook-timestamp is not an integer", "missing webhook-timestamp header")


def test_tampered_body_is_refused() -> None:
    headers = signed_headers()
    tampered = BODY.replace(b"upload fails", b"refund me now")
    assert refusal(WebhookVerifier([NEW]), headers, tampered) == "no signature matches"


def test_signature_for_another_webhook_id_is_refused() -> None:
    headers = signed_headers()
    headers["webhook-id"] = f"msg_{uuid.uuid4().hex}"
    assert refusal(WebhookVerifier([NEW]), headers) == "no signature matches"


def test_rotation_accepts_requests_signed_with_the_old_or_the_new_secret() -> None:
    verifier = WebhookVerifier([OLD, NEW])
    for secret in (OLD, NEW):
        headers = signed_headers(secret=secret)
        assert verifier.verify(headers, BODY, NOW) == headers["webhook-id"]
    assert refusal(WebhookVerifier([NEW]), signed_headers(secret=OLD)) == "no signature matches"


def test_one_good_signature_among_several_passes() -> None:
    good = signed_headers()
    bad = sign(b"retired-secret-nobody-has-now", good["webhook-id"], int(NOW.timestamp()), BODY)
    for order in (f"{bad} {good['webhook-signature']}", f"{good['webhook-signature']}  {bad}"):
        headers = {**good, "webhook-signature": order}
        assert WebhookVerifier([NEW]).verify(headers, BODY, NOW) == good["webhook-id"]


@pytest.mark.parametrize(
    "signature",
    [
        "v2,{sig}",  # only a version we do not know, even with the right bytes
        "{sig}",  # no version at all
        "v1,",
        "v1,!!!not-base64!!!",
        "v1,abc",  # bad base64 padding
        "v1,ZmFrZQ==",  # valid base64, wrong length
        "v1,é€ñ",  # non-ASCII
        "v1;{sig}",
        ",,,",
    ],
)
def test_malformed_signature_headers_are_refused_cleanly(signature: str) -> None:
    headers = signed_headers()
    sig = headers["webhook-signature"].removeprefix("v1,")
    headers["webhook-signature"] = signature.format(sig=sig)
    assert refusal(WebhookVerifier([NEW]), headers) == "no signature matches"


def test_overlong_webhook_id_is_refused() -> None:
    headers = signed_headers(webhook_id="x" * 300)
    assert refusal(WebhookVerifier([NEW]), headers) == "webhook-id header too long"


def test_unconfigured_verifier_refuses_everything_including_unsigned() -> None:
    for verifier in (WebhookVerifier([]), WebhookVerifier.from_env({})):
        assert not verifier.configured
        assert refusal(verifier, {}) == "no webhook secrets configured"
        assert refusal(verifier, signed_headers()) == "no webhook secrets configured"


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        WebhookVerifier([NEW]).verify(signed_headers(), BODY, datetime(2025, 3, 4, 12))


# --- secrets ----------------------------------------------------------------------------------


def whsec(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


def test_parse_secret_accepts_prefixed_and_bare_base64() -> None:
    assert parse_secret(whsec(NEW)) == NEW
    assert parse_secret(base64.b64encode(NEW).decode()) == NEW
    assert parse_secret(f"  {whsec(NEW).rstrip('=')}\n") == NEW  # padding and spaces forgiven


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("whsec_", "empty"),
        ("whsec_not base64!", "not valid base64"),
        (whsec(b"short"), "too short"),
    ],
)
def test_parse_secret_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_secret(text)


def test_from_env_reads_several_secrets_separated_by_commas_or_spaces() -> None:
    environ = {"ESCALATION_WEBHOOK_SECRETS": f"{whsec(OLD)}, {whsec(NEW)}\n"}
    verifier = WebhookVerifier.from_env(environ)
    for secret in (OLD, NEW):
        headers = signed_headers(secret=secret)
        assert verifier.verify(headers, BODY, NOW) == headers["webhook-id"]


def test_from_env_names_the_bad_secret_by_position_without_echoing_it() -> None:
    environ = {"ESCALATION_WEBHOOK_SECRETS": f"{whsec(OLD)} whsec_s3cr3t-value!"}
    with pytest.raises(ValueError, match=r"secret #2: .*not valid base64") as caught:
        WebhookVerifier.from_env(environ)
    assert "s3cr3t" not in str(caught.value)


# --- first answers (PostgreSQL) ---------------------------------------------------------------


async def test_a_delivery_keeps_its_first_answer_for_the_same_request_only(
    pool: asyncpg.Pool,
) -> None:
    headers = signed_headers()
    webhook_id = WebhookVerifier([NEW]).verify(headers, BODY, NOW)
    assert await first_answer(pool, webhook_id) is None  # not answered yet: act on it
    assert await keep_answer(pool, webhook_id, "/api/tickets", BODY, 202, '{"a": 1}') is None
    # The same signed request again, inside the tolerance window: the signature still checks
    # out, the id finds the first answer.
    assert WebhookVerifier([NEW]).verify(headers, BODY, NOW) == webhook_id
    first = await first_answer(pool, webhook_id)
    assert first is not None and (first.status, first.answer) == (202, '{"a": 1}')
    assert first.answers("/api/tickets", BODY)
    assert not first.answers("/api/tickets/T-2/replies", BODY)
    assert not first.answers("/api/tickets", BODY + b" ")
    # Two copies acted on at once: the second to keep its answer gets the first one back.
    again = await keep_answer(pool, webhook_id, "/api/tickets", BODY, 200, '{"b": 2}')
    assert again == first
    assert await first_answer(pool, f"msg_{uuid.uuid4().hex}") is None


async def test_forget_deliveries_deletes_only_old_ids(pool: asyncpg.Pool) -> None:
    old, recent = f"msg_{uuid.uuid4().hex}", f"msg_{uuid.uuid4().hex}"
    await keep_answer(pool, old, "/api/tickets", BODY, 202, "{}")
    await pool.execute(
        "UPDATE webhook_deliveries SET received_at = now() - '4 days'::interval"
        " WHERE webhook_id = $1",
        old,
    )
    await keep_answer(pool, recent, "/api/tickets", BODY, 202, "{}")
    assert await forget_deliveries(pool) >= 1
    assert await first_answer(pool, old) is None
    assert await first_answer(pool, recent) is not None


# --- agents -----------------------------------------------------------------------------------


def test_agent_directory_authenticates_by_token(tmp_path: Path) -> None:
    ana, bruno = new_token(), new_token()
    path = write_agents_file(
        tmp_path / "agents.toml", {"ana": ("engineering", ana), "bruno": ("billing", bruno)}
    )
    directory = AgentDirectory.from_file(path)
    assert directory.authenticate(ana) == Agent("ana", "engineering")
    assert directory.authenticate(bruno) == Agent("bruno", "billing")
    assert directory.authenticate(new_token()) is None
    assert directory.authenticate(ana + "x") is None
    assert directory.authenticate("") is None
    assert directory.authenticate(None) is None


def test_written_agents_file_holds_hashes_never_tokens(tmp_path: Path) -> None:
    token = new_token()
    path = write_agents_file(tmp_path / "agents.toml", {"ana": ("legal", token)})
    text = path.read_text()
    assert token not in text
    assert hashlib.sha256(token.encode()).hexdigest() in text
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()


def test_write_agents_file_refuses_an_unknown_team(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError) as caught:
        write_agents_file(tmp_path / "agents.toml", {"ana": ("enginering", new_token())})
    assert "agents.ana.team: unknown team 'enginering'" in str(caught.value)
    assert not (tmp_path / "agents.toml").exists()


def test_write_agents_file_quotes_unusual_names(tmp_path: Path) -> None:
    token = new_token()
    path = write_agents_file(tmp_path / "a.toml", {'Zoë "Z" O.': ("customer_success", token)})
    assert AgentDirectory.from_file(path).authenticate(token) == Agent(
        'Zoë "Z" O.', "customer_success"
    )


def test_without_configuration_nobody_is_authenticated() -> None:
    directory = AgentDirectory.from_env({})
    assert len(directory) == 0
    assert directory.authenticate(new_token()) is None


def test_from_env_reads_the_file_named_by_escalation_agents(tmp_path: Path) -> None:
    token = new_token()
    path = write_agents_file(tmp_path / "agents.toml", {"pia": ("product", token)})
    directory = AgentDirectory.from_env({"ESCALATION_AGENTS": str(path)})
    assert directory.authenticate(token) == Agent("pia", "product")
    with pytest.raises(AgentConfigError, match="cannot read"):
        AgentDirectory.from_env({"ESCALATION_AGENTS": str(tmp_path / "missing.toml")})


def test_example_config_loads_and_signs_nobody_in() -> None:
    directory = AgentDirectory.from_file(ROOT / "config" / "agents.example.toml")
    assert {agent.team for agent in directory.agents} <= {"engineering", "billing", "legal"}
    assert len(directory) >= 1
    assert directory.authenticate("") is None


HASH = "ab" * 32


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            f'[agents.ana]\nteam = "enginering"\ntoken_sha256 = "{HASH}"',
            "agents.ana.team: unknown team 'enginering'",
        ),
        (f'[agents.ana]\ntoken_sha256 = "{HASH}"', "agents.ana.team: missing"),
        ('[agents.ana]\nteam = "legal"', "agents.ana.token_sha256: missing"),
        (
            '[agents.ana]\nteam = "legal"\ntoken_sha256 = "abc123"',
            "agents.ana.token_sha256: not a SHA-256 hash",
        ),
        (
            f'[agents.ana]\nteam = "legal"\ntoken_sha256 = "{"zz" * 32}"',
            "agents.ana.token_sha256: not a SHA-256 hash",
        ),
        (
            '[agents.ana]\nteam = "legal"\ntoken = "plain-text-token"',
            "agents.ana.token: unknown key",
        ),
        (
            f'[agents.ana]\nteam = "legal"\ntoken_sha256 = "{HASH}"\nemail = "a@x"',
            "agents.ana.email: unknown key",
        ),
        ('[agent.ana]\nteam = "legal"', "agent: unknown key"),
        ('agents = "ana"', "agents: must be a table"),
        ("[agents]\nana = 3", "agents.ana: must be a table"),
        (
            f'[agents.ana]\nteam = "legal"\ntoken_sha256 = "{HASH}"\n'
            f'[agents.bo]\nteam = "billing"\ntoken_sha256 = "{HASH.upper()}"',
            "agents.bo.token_sha256: same token as agents.ana",
        ),
        ("[agents.ana\n", "not valid TOML"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "agents.toml"
    path.write_text(toml)
    with pytest.raises(AgentConfigError) as caught:
        AgentDirectory.from_file(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


# --- bearer tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.DEF-123_", "abc.DEF-123_"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", None),
        ("Bearer abc def", None),
        ("Bearerabc", None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token
