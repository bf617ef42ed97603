"""What the embedded servers share: `with server:` starts it and stops it on the way out."""

from __future__ import annotations

from typing import Self


class Service:
    """Subclasses define `start()` (returning self) and `stop()` (safe to call twice)."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
