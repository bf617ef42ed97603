"""A webhook receiver on 127.0.0.1, standing in for the chat service or the ticketing system
the service posts to: a plain HTTP/1.1 server, one request per connection, that hands each
request to `answer` and replies with the status it returns (or awaits, to hold a request
in flight). The tests and the bench build
their receivers on it, as they build their mail probes on the SMTP sink."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

__all__ = ["WebhookRequest", "WebhookSink"]


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


class WebhookSink:
    """`answer(request)` → the HTTP status to reply with (2xx: "ok", else an error body)."""

    def __init__(self, answer: Callable[[WebhookRequest], int | Awaitable[int]]) -> None:
        self.answer = answer
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            answered = self.answer(WebhookRequest(method, path, headers, body))
            status = await answered if inspect.isawaitable(answered) else answered
            ok = 200 <= status < 300
            reply = b"ok" if ok else b'{"error": "down"}'
            writer.write(
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(reply)}\r\nConnection: close\r\n\r\n".encode()
                + reply
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # a client that hung up or sent no request line: nothing to answer
        finally:
            writer.close()
