"""The web app under load it must survive (issue 13, items 1 and 2), on a live uvicorn over
real sockets (web_support.LiveServer), not the in-process ASGI client, so memory, buffering
and concurrency are the real ones:

- bounded bodies: a "2 GB" chunked POST to the intake webhook and to the sign-in form is
  answered 413 once it passes the limit (not after reading it), a declared 2 GB at once, an
  unsigned or stale one 401 before any of it is read, and the process does not grow;
- one pooled connection per request: 20 concurrent CSAT deliveries for a resolved ticket all
  answer, and the queue answers at once afterwards (ten used to deadlock the pool for good);
- outages: PostgreSQL or Temporal unreachable answers 503 with Retry-After and no internals,
  `/readyz` says which is down, and 200 when both are up; acquire and statement timeouts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import yaml
from temporalio.client import Client

from localstack.ports import free_port
from localstack.postgres import EmbeddedPostgres
from tests.conftest import ROOT
from tests.web_support import (
    ORIGIN,
    LiveServer,
    assignment_on_record,
    new_ticket_id,
    signed_headers,
    ticket_body,
    web_setup,
)
from web.limits import BodyLimit, BodyLimits
from web.services import DatabaseLimits, connect_pool

LIMITS = BodyLimits()
TWO_GB = 2 * 1024**3
CHUNK = 64 * 1024
# The server must have answered before the sender got this far past the limit.
SLACK = 1024 * 1024
MAX_GROWTH = 50 * 1024 * 1024
UNREACHABLE = ("127.0.0.1", "Errno", "onnect", "tonic", "Traceback", "asyncpg", "grpc")


# --------------------------------------------------------------------------- helpers


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> bool:
    """Start VmHWM (peak RSS) afresh (Linux >= 4.0); False where it cannot be reset."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclasses.dataclass
class Answer:
    status: int | None
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the sender got onto the wire before the answer (or giving up)
    seconds: float


def _parse_answer(data: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """The HTTP answer in `data`, or None while it is incomplete."""
    head, found, rest = data.partition(b"\r\n\r\n")
    if not found:
        return None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if len(rest) < length:
        return None
    return status, headers, rest[:length]


async def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes] | None:
    """Read from the socket itself, not through an asyncio transport: when the server answers
    and closes while the body still streams, its kernel resets the connection, and a
    transport's failed write would drop the answer already received with it. The socket keeps
    it readable (Linux leaves the receive queue after a reset)."""
    loop = asyncio.get_running_loop()
    data = b""
    while (answer := _parse_answer(data)) is None:
        try:
            more = await loop.sock_recv(sock, 65536)
        except (ConnectionError, OSError):
            return None
        if not more:
            return None
        data += more
    return answer


async def stream_post(
    port: int,
    path: str,
    headers: dict[str, str],
    *,
    total: int = TWO_GB,
    declare_length: bool = False,
    give_up_after: int,
) -> Answer:
    """POST `total` bytes (chunked, or with Content-Length: total) from a generator, over a
    raw socket with small buffers, stopping as soon as the server answers or closes, or once
    `give_up_after` bytes are out with no answer. Never sends 2 GB."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        framing = (
            {"content-length": str(total)} if declare_length else {"transfer-encoding": "chunked"}
        )
        head = [f"POST {path} HTTP/1.1", f"host: 127.0.0.1:{port}"]
        head += [f"{name}: {value}" for name, value in {**headers, **framing}.items()]
        await loop.sock_sendall(sock, ("\r\n".join(head) + "\r\n\r\n").encode())
        answer = asyncio.create_task(_read_answer(sock))
        payload = b"x" * CHUNK
        chunk = payload if declare_length else b"%x\r\n%s\r\n" % (len(payload), payload)
        sent = 0
        try:
            while sent < total and not answer.done() and sent <= give_up_after:
                await loop.sock_sendall(sock, chunk)
                sent += len(payload)
                # A sender on a network, not a memcpy: the server (a thread of this process,
                # sharing its GIL) gets its turn, and what "sent" counts is not mostly bytes
                # parked in loopback buffers (up to ~1 MB) when the answer comes.
                await asyncio.sleep(0.002)
        except (ConnectionError, OSError):
            pass  # the server closed on us: its answer (if any) is still in the socket
        try:
            parsed = await asyncio.wait_for(answer, 10)
        except TimeoutError:
            parsed = None
        finally:
            answer.cancel()
    finally:
        sock.close()
    status, answer_headers, answer_body = parsed or (None, {}, b"")
    return Answer(status, answer_headers, answer_body, sent, time.monotonic() - started)


def fake_signature_headers() -> dict[str, str]:
    """Fresh, well-formed Standard-Webhooks headers (the signature cannot be checked before
    the body is read, and no one signs 2 GB): what passes the header check."""
    return {
        "content-type": "application/json",
        "webhook-id": f"msg_{uuid.uuid4().hex}",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    }


@pytest.fixture
def server(client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, tmp_path: Path):
    """The app live on a free port against the session's PostgreSQL and Temporal (no worker:
    nothing here needs a workflow to run)."""
    yield from _serve(web_setup(client, postgres.url, "no-worker", tmp_path))


class BodyCounter:
    """Outermost ASGI layer: how many body bytes the app pulled from the server, per path (what
    the socket's buffers cannot blur)."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.read: dict[str, int] = {}

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        self.read[path] = 0

        async def counted():  # type: ignore[no-untyped-def]
            message = await receive()
            self.read[path] += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


def _serve(setup, **config) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    if config:
        setup = dataclasses.replace(setup, config=dataclasses.replace(setup.config, **config))
    live = LiveServer(setup, free_port())
    live.counter = BodyCounter(live.server.config.app)  # type: ignore[attr-defined]
    live.server.config.app = live.counter
    live.start()
    try:
        yield live
    finally:
        live.stop()


# --------------------------------------------------------------------------- bounded bodies


@pytest.mark.parametrize(
    ("path", "headers", "limit"),
    [
        ("/api/tickets", None, LIMITS.webhook),
        ("/login", {"content-type": "application/x-www-form-urlencoded", **ORIGIN}, LIMITS.form),
    ],
    ids=["intake", "login"],
)
async def test_a_2gb_chunked_post_is_refused_at_the_limit(
    server: LiveServer, path: str, headers: dict[str, str] | None, limit: int
) -> None:
    headers = {**(headers or fake_signature_headers()), "origin": server.url}
    baseline = _status_kb("VmRSS")
    peak_resettable = reset_peak_rss()
    answer = await stream_post(server.port, path, headers, give_up_after=limit + SLACK)
    growth = (_status_kb("VmHWM") if peak_resettable else _status_kb("VmRSS")) - baseline

    assert answer.status == 413, f"no 413 after {answer.sent} bytes (limit {limit})"
    assert answer.sent <= limit + SLACK, answer.sent
    read = server.counter.read[path]  # type: ignore[attr-defined]
    # The app stopped at the message that crossed the limit (uvicorn hands over what it has
    # buffered, 64 KB or a little more, in one message).
    assert limit < read <= limit + 256 * 1024, read
    assert json.loads(answer.body) == {"detail": f"request body larger than {limit} bytes"}
    assert answer.headers.get("connection") == "close"
    assert growth < MAX_GROWTH, f"the process grew by {growth / 2**20:.1f} MB"
    print(
        f"{path}: 413 after {answer.sent / 1024:.0f} KB sent ({read / 1024:.0f} KB read) in"
        f" {answer.seconds * 1000:.0f} ms, peak RSS growth {growth / 2**20:.1f} MB"
    )
    # The server is still fine.
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_a_declared_2gb_body_is_refused_before_any_of_it(server: LiveServer) -> None:
    for path, headers in (
        ("/api/tickets", fake_signature_headers()),
        ("/login", {"content-type": "application/x-www-form-urlencoded", **ORIGIN}),
    ):
        answer = await stream_post(server.port, path, headers, declare_length=True, give_up_after=0)
        assert answer.status == 413, (path, answer)
        assert server.counter.read[path] == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("problem", ["unsigned", "stale", "no timestamp"])
async def test_an_unsigned_or_stale_webhook_is_refused_before_its_body(
    server: LiveServer, problem: str
) -> None:
    headers = fake_signature_headers()
    if problem == "unsigned":
        del headers["webhook-signature"]
    elif problem == "stale":
        headers["webhook-timestamp"] = str(int(time.time()) - 3600)
    else:
        del headers["webhook-timestamp"]
    # Answered on the headers: not a byte of the body is read.
    answer = await stream_post(
        server.port, "/api/tickets", headers, give_up_after=LIMITS.webhook + SLACK
    )
    assert answer.status == 401, answer
    assert server.counter.read["/api/tickets"] == 0  # type: ignore[attr-defined]
    assert answer.sent <= LIMITS.webhook + SLACK, answer.sent  # (what the buffers took)
    assert answer.headers.get("connection") == "close"
    reason = json.loads(answer.body)["detail"]
    assert "signature" in reason or "timestamp" in reason


async def test_bodies_up_to_the_limit_still_go_through(server: LiveServer) -> None:
    """A genuine ticket is far below the limit: accepted as before (the route answers; with
    no worker the run just waits). A form just under 64 KB reaches the login page."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        body = ticket_body(new_ticket_id("LIM"))
        answer = await http.post("/api/tickets", content=body, headers=signed_headers(body))
        assert answer.status_code == 202, answer.text
        form = {"token": "x" * 500, "next": "/" + "a" * 1_900, "pad": "p" * (LIMITS.form - 3000)}
        answer = await http.post("/login", data=form, headers={"origin": server.url})
        assert answer.status_code == 401  # not a token, but read and answered by the page


async def _echo_app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


@pytest.mark.parametrize(
    ("path", "size", "status"),
    [
        ("/api/tickets", 256 * 1024, 200),
        ("/api/tickets", 256 * 1024 + 1, 413),
        ("/login", 64 * 1024, 200),
        ("/login", 64 * 1024 + 1, 413),
        ("/tickets/T-1/actions/respond", 64 * 1024 + 1, 413),
    ],
)
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_the_limits_are_exact(path: str, size: int, status: int, declared: bool) -> None:
    """BodyLimit on its own (pure ASGI): the limit is the last byte accepted, however sent."""
    answers: list[dict] = []
    chunks = [b"x" * 1000] * (size // 1000) + [b"x" * (size % 1000)]
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    messages[-1]["more_body"] = False

    async def receive() -> dict:
        return messages.pop(0)

    async def send(message: dict) -> None:
        answers.append(message)

    headers = [(b"content-length", str(size).encode())] if declared else []
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    await BodyLimit(_echo_app)(scope, receive, send)  # type: ignore[arg-type]
    assert answers[0]["status"] == status
    assert len(answers) == 2  # one answer, the app's own dropped after a 413


def test_limits_are_configurable() -> None:
    limits = BodyLimits.from_env(
        {"ESCALATION_WEBHOOK_BODY_LIMIT": "1m", "ESCALATION_FORM_BODY_LIMIT": "4096"}
    )
    assert (limits.webhook, limits.form) == (1024 * 1024, 4096)
    assert limits.for_path("/api/tickets/T-1/replies") == 1024 * 1024
    assert limits.for_path("/login") == 4096
    with pytest.raises(ValueError, match="ESCALATION_FORM_BODY_LIMIT"):
        BodyLimits.from_env({"ESCALATION_FORM_BODY_LIMIT": "lots"})


# --------------------------------------------------------------------------- the pool


async def test_twenty_concurrent_csat_deliveries_do_not_deadlock_the_pool(
    server: LiveServer, pool: asyncpg.Pool
) -> None:
    ticket_id = await assignment_on_record(pool, new_ticket_id("CSAT"))
    path = f"/api/tickets/{ticket_id}/satisfaction"
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http:

        async def deliver(score: int) -> int:
            body = json.dumps(
                {"ticketId": ticket_id, "score": score, "comment": f"take {score}"}
            ).encode()
            answer = await http.post(path, content=body, headers=signed_headers(body))
            return answer.status_code

        started = time.monotonic()
        async with asyncio.timeout(30):  # the old code never answered: the pool was stuck
            statuses = await asyncio.gather(*(deliver(1 + n % 5) for n in range(20)))
        took = time.monotonic() - started
        assert set(statuses) <= {200, 503}, statuses  # 503: a documented "try again"
        assert statuses.count(200) >= 10, statuses

        started = time.monotonic()
        queue = await http.get("/api/queue", headers=server.setup.bearer(), timeout=5)
        queue_took = time.monotonic() - started
        assert queue.status_code == 200, queue.text
        assert queue_took < 1.0, f"/api/queue took {queue_took:.2f} s after the deliveries"
    recorded = await pool.fetchval(
        "SELECT count(*) FROM escalation_log WHERE ticket_id = $1 AND action = 'csat'", ticket_id
    )
    assert recorded == 1  # one per episode: the later answers replaced the earlier
    print(f"20 CSAT: {statuses.count(200)} x 200 in {took:.2f} s; queue after {queue_took:.3f} s")


async def test_a_csat_delivery_needs_one_connection(
    client: Client, postgres: EmbeddedPostgres, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    """With a pool of one, a CSAT delivery for a resolved ticket still answers 200: it needs
    no second connection (the old code waited for one for good, here the 2 s acquire timeout
    would answer 503)."""
    ticket_id = await assignment_on_record(pool, new_ticket_id("CSAT"))
    setup = web_setup(client, postgres.url, "no-worker", tmp_path)
    for live in _serve(setup, database=DatabaseLimits(acquire_timeout=2, pool_size=1)):
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
            body = json.dumps({"ticketId": ticket_id, "score": 4}).encode()
            answer = await http.post(
                f"/api/tickets/{ticket_id}/satisfaction", content=body, headers=signed_headers(body)
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["afterResolution"] is True


async def test_acquire_and_statement_timeouts(postgres: EmbeddedPostgres, pool: asyncpg.Pool):
    limits = DatabaseLimits(acquire_timeout=0.3, statement_timeout=0.2, pool_size=1)
    small = await connect_pool(postgres.url, limits)
    try:
        assert await small.fetchval("SHOW statement_timeout") == "200ms"
        with pytest.raises(asyncpg.QueryCanceledError):
            await small.execute("SELECT pg_sleep(2)")
        async with small.acquire():
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await small.fetchval("SELECT 1")  # the pool's one connection is taken
            assert time.monotonic() - started < 1.5
    finally:
        await small.close()
    env = {
        "ESCALATION_DB_ACQUIRE_TIMEOUT": "2.5",
        "ESCALATION_DB_STATEMENT_TIMEOUT": "30",
        "ESCALATION_DB_POOL_SIZE": "20",
        "ESCALATION_READINESS_TIMEOUT": "1",
    }
    assert DatabaseLimits.from_env(env) == DatabaseLimits(2.5, 30.0, 20, 1.0)
    with pytest.raises(ValueError, match="ESCALATION_DB_ACQUIRE_TIMEOUT"):
        DatabaseLimits.from_env({"ESCALATION_DB_ACQUIRE_TIMEOUT": "-1"})


# --------------------------------------------------------------------------- outages


def assert_outage(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers.get("retry-after", "").isdigit(), answer.headers
    for internal in UNREACHABLE:
        assert internal not in answer.text, f"{internal!r} in {answer.text!r}"


async def test_readyz_is_200_when_both_dependencies_answer(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        started = time.monotonic()
        answer = await http.get("/readyz")
        took = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ready": True, "postgres": "up", "temporal": "up"}
    # Each check is bounded by the readiness timeout (2 s); ~0.1 s on an idle machine.
    assert took < DatabaseLimits().readiness_timeout + 1
    print(f"/readyz up: {took * 1000:.0f} ms")


async def test_postgres_down_answers_503_with_retry_after(
    client: Client, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/escalation"
    setup = web_setup(client, closed, "no-worker", tmp_path)
    for live in _serve(setup):  # the app starts without its database: /healthz stays up
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
            assert (await http.get("/healthz")).status_code == 200
            started = time.monotonic()
            ready = await http.get("/readyz")
            took = time.monotonic() - started
            assert_outage(ready)
            assert ready.json() == {"ready": False, "postgres": "down", "temporal": "up"}
            assert took < setup.config.database.readiness_timeout + 1
            assert_outage(await http.get("/api/queue", headers=setup.bearer()))
            body = ticket_body(new_ticket_id("DOWN"))
            assert_outage(
                await http.post("/api/tickets", content=body, headers=signed_headers(body))
            )


async def test_temporal_down_answers_503_with_retry_after(
    client: Client, postgres: EmbeddedPostgres, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    setup = web_setup(client, postgres.url, "no-worker", tmp_path)
    endpoints = dataclasses.replace(
        setup.config.endpoints, temporal_address=f"127.0.0.1:{free_port()}"
    )
    for live in _serve(setup, endpoints=endpoints):
        async with httpx.AsyncClient(base_url=live.url, timeout=20) as http:
            # (The old code answered these 500: the lazy client's failed first connection is
            # a RuntimeError, not an RPCError.)
            body = ticket_body(new_ticket_id("DOWN"))
            assert_outage(
                await http.post("/api/tickets", content=body, headers=signed_headers(body))
            )
            ticket = new_ticket_id("DOWN")
            answer = await http.get(f"/api/tickets/{ticket}", headers=setup.bearer())
            assert_outage(answer)
            assert answer.json() == {"detail": "Temporal is unavailable"}
            started = time.monotonic()
            ready = await http.get("/readyz")
            took = time.monotonic() - started
            assert_outage(ready)
            assert ready.json() == {"ready": False, "postgres": "up", "temporal": "down"}
            assert took < setup.config.database.readiness_timeout + 1


def test_compose_healthcheck_asks_readyz() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    test = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    assert "/readyz" in test
