"""An SMTP sink (aiosmtpd) that keeps every message, so the demo and tests can read our emails.

Messages are kept in memory (parsed as `email.message.EmailMessage` with the default policy, so
UTF-8 subjects and bodies decode) and written as `.eml` files you can open in a mail client.
SMTPUTF8 and 8BITMIME are advertised, so non-ASCII mail arrives byte-exact.

It can also behave like a real relay having opinions, for the tests and the demo:

- `sink.refuse("bounce@example.org")` answers RCPT TO for that address with
  `550 5.1.1 <bounce@example.org>: user unknown` (a permanent refusal; pass another reply,
  e.g. "452 4.2.2 mailbox full", for a temporary one); `sink.accept(address)` undoes it.
  `SmtpSink(refuse=[...])` does the same at construction, and without that argument the
  comma-separated addresses in SMTP_SINK_REFUSE are refused (`SMTP_SINK_REFUSE=bounce@example.org
  make demo`).
- `sink.slow_down("slow@example.org", 2.0)` answers DATA for mail to that address only after
  2 seconds, like a slow relay (the message is kept, then accepted); `sink.slow_down(address,
  0)` undoes it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from localstack.errors import StackError
from localstack.ports import ensure_port_free
from localstack.processes import make_owned_tempdir, sweep_abandoned_tempdirs
from localstack.service import Service

log = logging.getLogger("localstack")

__all__ = ["DEFAULT_PORT", "ReceivedMessage", "SmtpSink"]

DEFAULT_PORT = 1025
REFUSE_ENV = "SMTP_SINK_REFUSE"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMP_PREFIX = "localstack-mail-"

Predicate = Callable[["ReceivedMessage"], bool]


@dataclass(frozen=True)
class ReceivedMessage:
    """One delivered message: the envelope, the parsed message and where it was saved."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes = field(repr=False)
    path: Path | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def subject(self) -> str:
        """Decoded Subject header ("" when absent)."""
        return str(self.message.get("Subject", ""))

    @property
    def text(self) -> str:
        """The plain-text body (or the HTML one when there is no text part)."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        return str(part.get_content()) if part is not None else ""

    @property
    def html(self) -> str | None:
        """The HTML body, None when the message has none."""
        part = self.message.get_body(preferencelist=("html",))
        return str(part.get_content()) if part is not None else None


class _Controller(Controller):
    """aiosmtpd's Controller, which also supports port 0 (it connects to `self.port` on start)."""

    def _trigger_server(self) -> None:
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = int(self.server.sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpSink(Service):
    """An SMTP server on 127.0.0.1 that accepts everything and keeps it."""

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        mail_dir: Path | None = None,
        save: bool = True,
        remove_on_stop: bool = False,
        refuse: Iterable[str] | None = None,
    ) -> None:
        self.host = host
        self.port = port if port is not None else int(os.environ.get("SMTP_PORT", DEFAULT_PORT))
        self.mail_dir = mail_dir or PROJECT_ROOT / ".state" / "mail"
        self.save = save
        self.remove_on_stop = remove_on_stop
        self._messages: list[ReceivedMessage] = []
        self._cond = threading.Condition()
        self._seq = itertools.count(1)
        self._controller: _Controller | None = None
        self._refusals: dict[str, str] = {}
        self._delays: dict[str, float] = {}
        if refuse is None:
            refuse = (a.strip() for a in os.environ.get(REFUSE_ENV, "").split(",") if a.strip())
        for address in refuse:
            self.refuse(address)

    @classmethod
    def temporary(cls) -> SmtpSink:
        """A sink on a free port saving into a temp dir (removed by `stop()`)."""
        sweep_abandoned_tempdirs(TEMP_PREFIX, lambda root: None)
        return cls(port=0, mail_dir=make_owned_tempdir(TEMP_PREFIX), remove_on_stop=True)

    @property
    def url(self) -> str:
        """e.g. smtp://127.0.0.1:1025 (the SMTP_URL the app reads)."""
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> SmtpSink:
        """Bind and serve in a background thread."""
        if self._controller is not None:
            return self
        if self.port != 0:
            ensure_port_free(self.host, self.port, "SMTP sink", "SMTP_PORT")
        if self.save:
            self.mail_dir.mkdir(parents=True, exist_ok=True)
        controller = _Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            enable_SMTPUTF8=True,
            decode_data=False,
            ready_timeout=10.0,
            server_hostname="localstack-smtp-sink",
        )
        try:
            controller.start()
        except OSError as err:
            raise StackError(f"SMTP sink could not start on {self.url}: {err.strerror}") from None
        self.port = controller.port
        self._controller = controller
        log.info("SMTP sink on %s (saving to %s)", self.url, self.mail_dir if self.save else "-")
        return self

    def stop(self) -> None:
        """Stop serving; the messages stay available in memory."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self.remove_on_stop:
            shutil.rmtree(self.mail_dir, ignore_errors=True)

    def messages(self) -> list[ReceivedMessage]:
        """Everything received so far, oldest first."""
        with self._cond:
            return list(self._messages)

    def refuse(self, address: str, reply: str | None = None) -> None:
        """Answer RCPT TO for `address` with `reply` (default: 550 5.1.1 user unknown)."""
        with self._cond:
            self._refusals[address.lower()] = reply or f"550 5.1.1 <{address}>: user unknown"

    def accept(self, address: str) -> None:
        """Accept mail for `address` again (undoes `refuse`)."""
        with self._cond:
            self._refusals.pop(address.lower(), None)

    def slow_down(self, address: str, seconds: float) -> None:
        """Answer DATA for mail to `address` only after `seconds` (0: at once again)."""
        with self._cond:
            if seconds > 0:
                self._delays[address.lower()] = seconds
            else:
                self._delays.pop(address.lower(), None)

    def refusal_for(self, address: str) -> str | None:
        """The reply RCPT TO gets for `address`, None when it is accepted."""
        with self._cond:
            return self._refusals.get(address.lower())

    def delay_for(self, addresses: Iterable[str]) -> float:
        """How long DATA waits for mail to `addresses` (the longest of their delays)."""
        with self._cond:
            return max((self._delays.get(a.lower(), 0.0) for a in addresses), default=0.0)

    def clear(self) -> None:
        """Forget the messages in memory (files stay), e.g. between tests."""
        with self._cond:
            self._messages.clear()

    def wait_for(
        self, predicate: Predicate | None = None, timeout: float = 10.0
    ) -> ReceivedMessage:
        """Block until a (matching) message is here; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self._first(predicate)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout(timeout)
                self._cond.wait(remaining)

    async def wait_for_async(
        self,
        predicate: Predicate | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - same signature as wait_for()
    ) -> ReceivedMessage:
        """`wait_for` for coroutines: polls without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                found = self._first(predicate)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise self._timeout(timeout)
            await asyncio.sleep(0.02)

    # --- internals ----------------------------------------------------------------------------

    def _first(self, predicate: Predicate | None) -> ReceivedMessage | None:
        return next((m for m in self._messages if predicate is None or predicate(m)), None)

    def _timeout(self, timeout: float) -> TimeoutError:
        return TimeoutError(
            f"no matching message within {timeout:.1f}s ({len(self._messages)} received)"
        )

    def _store(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> ReceivedMessage:
        """Parse, save and publish one message (runs on the server thread)."""
        # SMTP delivers CRLF lines; parse with LF ones so bodies read like any Python string.
        message = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        assert isinstance(message, EmailMessage)
        path: Path | None = None
        if self.save:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            path = self.mail_dir / f"{stamp}-{next(self._seq):04d}.eml"
            envelope = (
                f"X-Envelope-From: <{mail_from}>\r\n"
                f"X-Envelope-To: {', '.join(f'<{r}>' for r in rcpt_tos)}\r\n"
            ).encode()
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(envelope + raw)
            tmp.replace(path)  # readers never see half a file
        received = ReceivedMessage(mail_from, tuple(rcpt_tos), message, raw, path)
        with self._cond:
            self._messages.append(received)
            self._cond.notify_all()
        return received


class _Handler:
    """aiosmtpd handler: accept every message (but for the addresses refused) and hand it to the
    sink."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.sink.refusal_for(address)
        if refusal is not None:
            log.info("refusing mail to %s: %s", address, refusal)
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        delay = self.sink.delay_for(envelope.rcpt_tos)
        if delay:
            await asyncio.sleep(delay)
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            received = self.sink._store(raw, str(envelope.mail_from), list(envelope.rcpt_tos))
        except Exception as err:
            log.exception("SMTP sink could not store a message")
            return f"451 Requested action aborted: {err}"
        log.info("mail %r to %s", received.subject, ", ".join(received.rcpt_tos))
        return "250 Message accepted for delivery"

    def __repr__(self) -> str:
        return f"_Handler({self.sink.url})"
