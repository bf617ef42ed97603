"""The bench's policies: the shipped one (hour-scale targets) for ingest and scale, and a copy
whose response targets are seconds, whose warning comes at `warning_at` of them, and whose teams
alert by webhook, for alert lateness."""

from __future__ import annotations

import re
from pathlib import Path


def second_scale_policy(
    base: Path, webhook_url: str, target_seconds: int, warning_at: float = 0.75
) -> Path:
    """The policy `base` with every response target `target_seconds`, the warning at
    `warning_at` of it, and every team alerting on the webhook alone (the channel measured),
    written beside it."""
    text = base.read_text(encoding="utf-8")
    text = re.sub(r'^response = ".*"$', f'response = "{target_seconds}s"', text, flags=re.M)
    text, warnings = re.subn(r"^warning_at = .*$", f"warning_at = {warning_at}", text, flags=re.M)
    if warnings != 1:
        raise ValueError(f"{base} has no single [monitoring] warning_at to set")

    def team_block(match: re.Match[str]) -> str:
        lines = [
            line
            for line in match.group().splitlines()
            if not line.startswith(("channels", "webhook_url"))
        ]
        return "\n".join([*lines, 'channels = ["webhook"]', f'webhook_url = "{webhook_url}"', ""])

    text, teams = re.subn(r"^\[teams\.\w+\]\n(?:[^\[\n].*\n)+", team_block, text, flags=re.M)
    if not teams:
        raise ValueError(f"{base} has no [teams.*] blocks to point at the webhook")
    path = base.with_name(f"policy-{target_seconds}s.toml")
    path.write_text(text, encoding="utf-8")
    return path
