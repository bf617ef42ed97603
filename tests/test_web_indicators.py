"""The queue's indicators need no emoji font (issue 13, item 7): chromium is started with a
fontconfig that knows one plain font folder (DejaVu) and nothing else, the page is
photographed, and every badge is checked in the picture itself: its shape has the priority's
or flag's colour and its words are drawn. The seed's emoji alone (🔴🟡🟢⭐🔥) are shown
beside them as a control: in this browser they come out without a single coloured pixel,
which is what the queue showed before.

The screenshot lands in test-artifacts/screenshots/indicators-no-emoji-font.png."""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Locator, Page, expect
from temporalio.client import Client

from localstack.postgres import EmbeddedPostgres
from tests.web_support import (
    CHROMIUM,
    SCREENSHOTS,
    LiveServer,
    chromium_page,
    live_server,
    new_ticket_id,
)

PLAIN_FONTS = Path("/usr/share/fonts/truetype/dejavu")

pytestmark = [
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
    pytest.mark.skipif(not PLAIN_FONTS.is_dir(), reason=f"{PLAIN_FONTS} is missing"),
]

# (priority, premium, time-sensitive, SLA due in minutes): one row of each look.
ROWS = {
    "P0": ("P0", True, True, -5),
    "P1": ("P1", False, False, 50),
    "P2": ("P2", False, False, -3),
    "P3": ("P3", False, False, 600),
}
# What each badge's shape is filled with (web/static/style.css), as the picture shows it.
SHAPE = {
    "Priority P0, critical": (0xB3, 0x26, 0x1E),  # P0: the whole badge is red
    "Priority P1, high": (0xD9, 0x30, 0x25),
    "Priority P2, medium": (0xF2, 0xB2, 0x00),
    "Priority P3, low": (0x1E, 0x8E, 0x3E),
    "Premium customer": (0xE3, 0xA8, 0x00),
    "Time-sensitive": (0xE8, 0x59, 0x0C),
}
WORDS = {
    "Priority P0, critical": "P0",
    "Priority P1, high": "P1",
    "Priority P2, medium": "P2",
    "Priority P3, low": "P3",
    "Premium customer": "Premium",
    "Time-sensitive": "Time-sensitive",
}
SEED_EMOJI = "🔴🟡🟢⭐🔥"

# Counts the pixels of a PNG (base64) within `tolerance` of each colour, in the browser.
COUNT_PIXELS = """
async ([png, colours, tolerance]) => {
  const img = new Image();
  img.src = "data:image/png;base64," + png;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.width, img.height).data;
  return colours.map(([r, g, b]) => {
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const off = Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b);
      if (off <= tolerance) n++;
    }
    return n;
  });
}
"""
# Pixels that are clearly coloured (not black, white or grey): an emoji font draws many.
COLOURED_PIXELS = """
async (png) => {
  const img = new Image();
  img.src = "data:image/png;base64," + png;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.width, img.height).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    const hi = Math.max(data[i], data[i + 1], data[i + 2]);
    const lo = Math.min(data[i], data[i + 1], data[i + 2]);
    if (hi - lo > 80) n++;
  }
  return n;
}
"""


def no_emoji_fontconfig(folder: Path) -> dict[str, str | float | bool]:
    """The browser's environment with a fontconfig that includes DejaVu only."""
    conf = folder / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        f"  <dir>{PLAIN_FONTS}</dir>\n  <cachedir>{folder / 'cache'}</cachedir>\n"
        "</fontconfig>\n"
    )
    return {**os.environ, "FONTCONFIG_FILE": str(conf), "FONTCONFIG_PATH": str(folder)}


@pytest.fixture
async def queue_rows(pool: asyncpg.Pool) -> AsyncIterator[dict[str, str]]:
    """Ticket ids by priority: queue rows as Step 9 writes them, two already overdue."""
    ids = {key: new_ticket_id(f"IND{key}") for key in ROWS}
    for key, (priority, premium, time_sensitive, due_minutes) in ROWS.items():
        await pool.execute(
            """
            INSERT INTO support_assignments (ticket_id, episode_id, assigned_to_team, priority,
                escalated_at, escalation_reason, expected_response_time, workflow_id, state,
                subject, customer_name, premium, time_sensitive, sla_due_at)
            VALUES ($1, 'episode-' || $1, 'engineering', $2, now() - interval '1 hour',
                'Indicator check', interval '1 hour', 'escalation-' || $1,
                CASE WHEN $5 < 0 THEN 'breached' ELSE 'escalated' END,
                'Indicators ' || $2, 'Ada', $3, $4,
                now() + make_interval(mins => $5))
            """,
            ids[key],
            priority,
            premium,
            time_sensitive,
            due_minutes,
        )
    yield ids
    await pool.execute(
        "DELETE FROM support_assignments WHERE ticket_id = ANY($1)", list(ids.values())
    )


@pytest.fixture
async def server(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, task_queue: str, tmp_path: Path
) -> AsyncIterator[LiveServer]:
    with live_server(client, postgres.url, task_queue, tmp_path) as running:
        yield running


async def png_of(locator: Locator) -> str:
    return base64.b64encode(await locator.screenshot()).decode()


async def assert_badge_drawn(page: Page, badge: Locator, label: str) -> None:
    """The badge is on screen, its picture has the shape's colour and the words' colour (read
    from the page's computed style) in it, and its words are the priority or the flag."""
    await expect(badge).to_be_visible()
    box = await badge.bounding_box()
    assert box and box["width"] >= 16 and box["height"] >= 10, (label, box)
    text_colour = await badge.evaluate("el => getComputedStyle(el).color")
    text_rgb = tuple(int(n) for n in re.findall(r"\d+", text_colour)[:3])
    shape_px, text_px = await page.evaluate(
        COUNT_PIXELS, [await png_of(badge), [SHAPE[label], text_rgb], 60]
    )
    assert shape_px >= 20, f"{label}: its shape is not drawn ({shape_px} pixels of its colour)"
    assert text_px >= 8, f"{label}: its words are not drawn ({text_px} pixels of their colour)"
    shape = await badge.evaluate(
        """el => {
          const s = getComputedStyle(el, "::before");
          return {width: parseFloat(s.width), height: parseFloat(s.height)};
        }"""
    )
    assert shape["width"] > 0 and shape["height"] > 0, (label, shape)
    await expect(badge).to_have_text(WORDS[label])


async def test_the_indicators_are_visible_without_any_emoji_font(
    server: LiveServer, queue_rows: dict[str, str], tmp_path: Path
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with chromium_page(env=no_emoji_fontconfig(tmp_path)) as (page, problems):
        await page.goto(f"{server.url}/login?next=/")
        await page.get_by_label("Agent name").fill("ana")
        await page.get_by_label("Agent token").fill(server.setup.tokens["ana"])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Open escalations")).to_be_visible()

        # The control: this browser has no emoji font, so the seed's emoji draw no colour.
        await page.evaluate(
            """emoji => {
              const old = document.createElement("p");
              old.id = "seed-emoji";
              old.textContent = emoji;
              old.setAttribute("aria-hidden", "true");
              old.classList.add("legend");
              document.querySelector("main").append(old);
            }""",
            SEED_EMOJI,
        )
        seed = page.locator("#seed-emoji")
        coloured = await page.evaluate(COLOURED_PIXELS, await png_of(seed))
        assert coloured == 0, f"an emoji font is in use ({coloured} coloured pixels): no control"

        async def check_rows() -> None:
            for key, (_, premium, time_sensitive, due) in ROWS.items():
                row = page.locator(f'tr[data-ticket-id="{queue_rows[key]}"]')
                label = next(name for name in SHAPE if name.startswith(f"Priority {key}"))
                await assert_badge_drawn(page, row.get_by_role("img", name=label), label)
                for flag, present in (
                    ("Premium customer", premium),
                    ("Time-sensitive", time_sensitive),
                ):
                    badge = row.get_by_role("img", name=flag, exact=True)
                    if present:
                        await assert_badge_drawn(page, badge, flag)
                    else:
                        await expect(badge).to_have_count(0)
                # The SLA state reads as words in the breached colour, no symbol needed.
                countdown = row.locator("time.countdown")
                if due < 0:
                    await expect(countdown).to_have_text(re.compile(r"^overdue by \d+m \d\ds$"))
                    await expect(countdown).to_have_css("color", "rgb(179, 38, 30)")
                    await expect(row.locator(".state")).to_have_text("breached")
                else:
                    await expect(countdown).to_have_text(re.compile(r"^due in "))

        await check_rows()  # as the server drew them
        legend = page.locator("p.legend").first
        for name in (
            "Priority P2, medium",
            "Priority P3, low",
            "Premium customer",
            "Time-sensitive",
        ):
            await assert_badge_drawn(page, legend.get_by_role("img", name=name, exact=True), name)
        await page.screenshot(
            path=str(SCREENSHOTS / "indicators-no-emoji-font.png"), full_page=True
        )

        # queue.js redraws the rows from /api/queue every 3 s: its badges are the same.
        await page.evaluate("window.__firstRow = document.querySelector('tbody tr')")
        await page.wait_for_function(
            "() => !document.body.contains(window.__firstRow)", timeout=15_000
        )
        await check_rows()

        # The ticket page: the badges beside the id and in the facts.
        await page.goto(f"{server.url}/tickets/{queue_rows['P0']}")
        heading = page.get_by_role("heading", level=1)
        await assert_badge_drawn(
            page, heading.get_by_role("img", name="Priority P0, critical"), "Priority P0, critical"
        )
        await assert_badge_drawn(
            page, heading.get_by_role("img", name="Premium customer"), "Premium customer"
        )
        facts = page.locator("dl.facts")
        await assert_badge_drawn(
            page, facts.get_by_role("img", name="Priority P0, critical"), "Priority P0, critical"
        )
        await page.screenshot(
            path=str(SCREENSHOTS / "indicators-no-emoji-font-ticket.png"), full_page=True
        )
        assert not [p for p in problems if "Content Security Policy" in p], problems
