"""The metrics page (/reports/metrics): hand-made escalation_log rows on the real PostgreSQL,
read through the app with an agent's session; the SVG charts on their own; and the page in
Debian's chromium, whose screenshot is the README's docs/metrics.png.

Other tests log events with current (or time-skipped, years ahead) timestamps and
tests/test_metrics.py uses 2071-2073, so each test here reads a window of its own in 2061-2062
(`?until=`).

`UPDATE_DOCS_SCREENSHOTS=1` makes the browser test also write docs/metrics.png; otherwise the
screenshots land in test-artifacts/screenshots/ (git-ignored), like the queue's.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from markupsafe import Markup
from playwright.async_api import expect
from temporalio.client import Client

from localstack.postgres import EmbeddedPostgres
from tests.conftest import ROOT
from tests.test_metrics import at, insert
from tests.web_support import (
    CHROMIUM,
    SCREENSHOTS,
    WebSetup,
    chromium_page,
    live_server,
    login,
    web_setup,
)
from web import charts

SVG = "{http://www.w3.org/2000/svg}"
EVIL_TEAM = "<script>alert(1)</script>"
DOCS_SCREENSHOT = ROOT / "docs" / "metrics.png"
UNUSED_QUEUE = "metrics-page-no-worker"  # these pages only read PostgreSQL


# --- data ----------------------------------------------------------------------------------


def escalated(
    base: datetime, received: float, delivered: float, team: str, priority: str, due: float
) -> dict[str, Any]:
    return {
        "timestamp": at(base, seconds=delivered),
        "receivedAt": at(base, seconds=received),
        "ticketCreatedAt": at(base, seconds=received - 60),
        "escalatedTo": team,
        "priority": priority,
        "slaDueAt": at(base, seconds=due),
    }


def resolved(
    base: datetime,
    when: float,
    team: str,
    priority: str,
    responded: float,
    necessary: bool,
    paused: float = 0,
) -> dict[str, Any]:
    return {
        "timestamp": at(base, seconds=when),
        "escalationNecessary": necessary,
        "team": team,
        "priority": priority,
        "respondedAt": at(base, seconds=responded),
        "pausedSeconds": paused,
    }


async def seed_small_week(pool: asyncpg.Pool, base: datetime) -> None:
    """10 tickets in [base, base + 7 d): 3 escalated, 7 kept with auto-response.

    E1 engineering/P1: received 10:00:00, escalated 10:00:40 (40 s), SLA due 11:00:40, first
       response 10:20 (in time), resolved 12:00:40 necessary (7200 s), CSAT 5 at 13:00.
    E2 billing/P2: received 11:00, escalated 11:03:00 (180 s), SLA due 15:03, first response
       16:00 (late), resolved the next day 11:03 necessary, paused 3600 s (82800 s), CSAT 4.
    E3 "<script>alert(1)</script>"/P0: received 12:00, escalated 12:01:30 (90 s), open.
    """
    prefix = f"MPG-{uuid.uuid4().hex[:8]}"
    e1, e2, e3 = (f"{prefix}-E{i}" for i in (1, 2, 3))
    h = 3600
    rows: list[tuple[str, str, dict[str, Any]]] = [
        (e1, "escalated", escalated(base, 10 * h, 10 * h + 40, "engineering", "P1", 11 * h + 40)),
        (e2, "escalated", escalated(base, 11 * h, 11 * h + 180, "billing", "P2", 15 * h + 180)),
        (e3, "escalated", escalated(base, 12 * h, 12 * h + 90, EVIL_TEAM, "P0", 12 * h + 990)),
        (e1, "agent_responded", {"firstResponse": True, "timestamp": at(base, hours=10.5)}),
        (e2, "agent_responded", {"firstResponse": True, "timestamp": at(base, hours=16)}),
        (e1, "csat", {"score": 5, "timestamp": at(base, hours=13)}),
        (e2, "csat", {"score": 4, "timestamp": at(base, hours=36)}),
        (e1, "resolved", resolved(base, 12 * h + 40, "engineering", "P1", 10 * h + 1200, True)),
        (
            e2,
            "resolved",
            resolved(base, 35 * h + 180, "billing", "P2", 16 * h, True, paused=3600),
        ),
    ]
    rows += [
        (f"{prefix}-A{i}", "auto_response", {"timestamp": at(base, days=i % 7, hours=9)})
        for i in range(1, 8)
    ]
    await insert(pool, rows)


# A realistic week for the screenshot: 150 tickets, 19 escalated to five teams at P0-P3.
RESPONSE_TARGET_MINUTES = {"P0": 15, "P1": 60, "P2": 240, "P3": 1440}
DEMO_ESCALATIONS: list[tuple[str, str, int, float | None, bool, int | None]] = [
    # team, priority, seconds to escalate, hours to resolve (None: open), necessary, CSAT
    ("engineering", "P1", 31, 3.5, True, 5),
    ("engineering", "P0", 18, 1.2, True, 5),
    ("engineering", "P2", 47, 7.0, True, 4),
    ("engineering", "P1", 55, 2.6, True, None),
    ("engineering", "P2", 140, 9.5, True, 3),
    ("engineering", "P1", 42, None, True, None),
    ("billing", "P2", 25, 5.0, True, 5),
    ("billing", "P2", 61, 11.0, False, 2),
    ("billing", "P3", 73, 20.0, True, 4),
    ("billing", "P1", 34, 4.1, True, 5),
    ("customer_success", "P2", 66, 6.2, True, 4),
    ("customer_success", "P3", 95, 26.0, True, 3),
    ("customer_success", "P2", 240, None, True, None),
    ("legal", "P1", 40, 8.0, True, 5),
    ("legal", "P0", 52, 2.2, True, 4),
    ("product", "P3", 110, 30.0, True, 5),
    ("product", "P2", 80, 6.8, True, None),
    ("product", "P3", 185, 18.0, True, 1),
    ("billing", "P2", 380, None, True, None),
]
DEMO_TICKETS = 150
LATE_RESPONSES = {4, 7, 11, 17}  # first answered after the response target
REASSIGNED = {4: "billing", 12: "product"}  # moved by an agent 10 minutes after escalation


async def seed_realistic_week(pool: asyncpg.Pool, base: datetime) -> None:
    prefix = f"DEMO-{uuid.uuid4().hex[:6]}"
    rows: list[tuple[str, str, dict[str, Any]]] = []
    h = 3600
    for n, (team, priority, to_escalate, hours, necessary, score) in enumerate(DEMO_ESCALATIONS):
        ticket = f"{prefix}-{n:03d}"
        received = (n % 7) * 24 * h + 8 * h + n * 1500
        delivered = received + to_escalate
        target = RESPONSE_TARGET_MINUTES[priority] * 60
        rows.append(
            (
                ticket,
                "escalated",
                escalated(base, received, delivered, team, priority, delivered + target),
            )
        )
        if n in REASSIGNED:
            moved = {
                "from": team,
                "to": REASSIGNED[n],
                "timestamp": at(base, seconds=delivered + 600),
            }
            rows.append((ticket, "reassigned", moved))
        responded = delivered + (target * 1.4 if n in LATE_RESPONSES else target * 0.45)
        rows.append(
            (
                ticket,
                "agent_responded",
                {"firstResponse": True, "timestamp": at(base, seconds=responded)},
            )
        )
        if hours is None:
            continue
        paused = 1800 if n % 5 == 0 else 0
        done = delivered + hours * h + paused
        holder = REASSIGNED.get(n, team)  # the team holding it at the end resolves it
        rows.append(
            (
                ticket,
                "resolved",
                resolved(base, done, holder, priority, responded, necessary, paused),
            )
        )
        if score is not None:
            rows.append(
                (
                    ticket,
                    "csat",
                    {"score": score, "timestamp": at(base, seconds=done + 2 * h)},
                )
            )
    for n in range(DEMO_TICKETS - len(DEMO_ESCALATIONS)):
        when = at(base, seconds=(n * 4129) % (7 * 24 * h))
        rows.append((f"{prefix}-K{n:03d}", "auto_response", {"timestamp": when}))
    await insert(pool, rows)


# --- app -----------------------------------------------------------------------------------


@pytest.fixture
def setup(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, tmp_path: Path
) -> WebSetup:
    return web_setup(client, postgres.url, UNUSED_QUEUE, tmp_path)


def card(page: str, key: str) -> str:
    """One metric card's HTML."""
    found = re.search(rf'<li [^>]*id="metric-{key}".*?</li>', page, re.DOTALL)
    assert found, f"no card for {key}"
    return re.sub(r"\s+", " ", found.group())


def chart_desc(page: str, chart: str) -> str:
    found = re.search(rf'<desc id="chart-{chart}-desc">(.*?)</desc>', page, re.DOTALL)
    assert found, f"no chart {chart}"
    return found.group(1)


# --- the page over HTTP --------------------------------------------------------------------


async def test_metrics_page_needs_an_agent_login(http: httpx.AsyncClient) -> None:
    answer = await http.get("/reports/metrics?since=7d")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/reports/metrics%3Fsince%3D7d"


async def test_metrics_page_shows_each_figure_with_its_target_and_status(
    http: httpx.AsyncClient, setup: WebSetup, pool: asyncpg.Pool
) -> None:
    base = datetime(2061, 4, 2, tzinfo=UTC)
    await seed_small_week(pool, base)
    await login(http, setup)
    answer = await http.get("/reports/metrics?since=7d&until=2061-04-09")
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert "2061-04-02 00:00:00 UTC" in page and "2061-04-09 00:00:00 UTC" in page
    summary = re.sub(r"\s+", " ", page)
    assert "10 tickets evaluated by triage, 3 escalated, 7 kept with auto-response," in summary
    assert "2 resolved, 2 rated, 2 first responses by agents." in summary

    # 3 escalated / 10 evaluated = 30.0%, not < 15%
    rate = card(page, "escalationRate")
    assert "30.0%" in rate and "3 of 10 tickets escalated" in rate
    assert "&lt; 15%" in rate and "Not met" in rate and 'data-status="missed"' in rate
    # 40, 90, 180 s: p50 90 s (< 120 s, met), p90 and max 180 s
    tte = card(page, "timeToEscalate")
    assert "p50 90 s" in tte and "p90 3.0 min · max 3.0 min · 3 escalations" in tte
    assert "p50 &lt; 120 s" in tte and 'data-status="met"' in tte and "✓</span> Met" in tte
    # both resolutions marked necessary: 2/2, > 90%
    accuracy = card(page, "escalationAccuracy")
    assert "100.0%" in accuracy and "2 of 2 resolved escalations" in accuracy
    assert "&gt; 90%" in accuracy and 'data-status="met"' in accuracy
    # scores 5 and 4: 2/2 satisfied
    csat = card(page, "csatAfterEscalation")
    assert "100.0%" in csat and "2 of 2 answers after resolution scored 4–5" in csat
    assert 'data-status="met"' in csat
    # 7200 s and 86400 − 3600 paused = 82800 s; the seed sets no target
    resolution = card(page, "resolutionTime")
    assert "p50 2.0 h" in resolution and "p90 23.0 h · 2 resolutions" in resolution
    assert "none set" in resolution and "No target" in resolution
    # E1 answered in time, E2 late: 1/2
    sla = card(page, "slaAttainment")
    assert "50.0%" in sla and "1 of 2 resolved escalations" in sla
    # no agent reassigned any of the 3: 3/3, at least 90%
    routing = card(page, "routingAccuracy")
    assert "100.0%" in routing and "&gt;= 90%" in routing and 'data-status="met"' in routing
    assert "3 of 3 escalations kept the team and priority triage gave them" in routing
    assert "(0 reassigned by an agent)" in routing

    # the charts carry their numbers in words; the team named like a tag stays text
    assert chart_desc(page, "escalations-by-team") == (
        "&lt;script&gt;alert(1)&lt;/script&gt;: 1; billing: 1; engineering: 1."
    )
    assert chart_desc(page, "escalations-by-priority") == "P0: 1; P1: 1; P2: 1."
    assert chart_desc(page, "time-to-escalate") == (
        "p50: 90 s; p90: 3.0 min (over target); max: 3.0 min (over target). Target 120 s."
    )
    assert chart_desc(page, "sla-by-priority") == "P0: no data; P1: 100.0% (1/1); P2: 0.0% (0/1)."
    assert chart_desc(page, "resolution-by-team") == (
        "&lt;script&gt;alert(1)&lt;/script&gt;: no data; billing: 23.0 h; engineering: 2.0 h."
    )
    assert page.count('role="img" aria-labelledby="chart-') == 5
    assert "<script>alert(1)" not in page
    assert " style=" not in page and "<style" not in page  # the CSP allows neither
    assert '<a href="/reports/metrics" aria-current="page">Metrics</a>' in page


async def test_metrics_page_without_data_says_so(http: httpx.AsyncClient, setup: WebSetup) -> None:
    await login(http, setup)
    answer = await http.get("/reports/metrics", params={"since": "30d", "until": "2062-12-01"})
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert "0 tickets evaluated by triage, 0 escalated" in re.sub(r"\s+", " ", page)
    for key in (
        "escalationRate",
        "timeToEscalate",
        "escalationAccuracy",
        "csatAfterEscalation",
        "resolutionTime",
        "slaAttainment",
        "routingAccuracy",
    ):
        assert 'data-status="nodata"' in card(page, key) and "No data" in card(page, key), key
    assert page.count("No data in this window</text>") == 5


async def test_metrics_page_defaults_to_30_days_ending_now(
    http: httpx.AsyncClient, setup: WebSetup
) -> None:
    await login(http, setup)
    answer = await http.get("/reports/metrics")
    assert answer.status_code == 200, answer.text
    assert 'name="since" type="text" value="30d"' in answer.text
    assert '<a href="/reports/metrics?since=30d" aria-current="page">30d</a>' in answer.text
    assert "python starter.py metrics --since 30d" in answer.text


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"since": "a week"}, "invalid window &#39;a week&#39;: use a positive whole number"),
        ({"since": "0d"}, "invalid window &#39;0d&#39;: must be longer than zero"),
        ({"since": "99999d"}, "invalid window &#39;99999d&#39;: at most 3660 days"),
        ({"since": "x" * 41}, "invalid window: at most 40 characters"),
        (
            {"since": "<script>x</script>"},
            "invalid window &#39;&lt;script&gt;x&lt;/script&gt;&#39;",
        ),
        ({"since": "7d", "until": "yesterday"}, "invalid end &#39;yesterday&#39;: use an ISO date"),
        ({"since": "3660d", "until": "0001-01-02"}, "it would start before the year 1"),
    ],
)
async def test_a_bad_window_is_a_400_page_naming_the_problem(
    http: httpx.AsyncClient, setup: WebSetup, query: dict[str, str], problem: str
) -> None:
    await login(http, setup)
    answer = await http.get("/reports/metrics", params=query)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in answer.text and "These metrics cannot be shown" in answer.text
    assert problem in answer.text, answer.text
    assert "<script>x" not in answer.text
    assert 'aria-invalid="true"' in answer.text  # the form is still there to fix it


# --- the charts on their own ---------------------------------------------------------------


def parse(svg: Markup) -> ET.Element:
    """The SVG as XML: well-formed, so nothing escaped its attribute or element."""
    return ET.fromstring(str(svg))


def test_chart_labels_and_ids_are_escaped() -> None:
    label = "<script>alert(\"x\")</script> & 'co'"
    svg = charts.count_bars('"><img src=x onerror=alert(1)>', "Teams <b>", [(label, 3)])
    text = str(svg)
    assert "<script>" not in text and "<img" not in text and "<b>" not in text
    root = parse(svg)
    assert root.get("id") == "chart-img-src-x-onerror-alert-1"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == f"{root.get('id')}-title {root.get('id')}-desc"
    assert root.find(f"{SVG}title").text == "Teams <b>"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == f"{label}: 3."  # type: ignore[union-attr]
    # the drawn label is cut to fit, the row's tooltip keeps it whole
    row = root.find(f"{SVG}g")
    assert row is not None and row.find(f"{SVG}title").text == f"{label}: 3"  # type: ignore[union-attr]
    assert [t.text for t in row.iter(f"{SVG}text")] == [label[:18] + "…"]
    assert [t.text for t in root.iter(f"{SVG}text")] == [label[:18] + "…", "3"]


def test_zero_values_draw_no_bar_but_keep_their_row() -> None:
    svg = charts.count_bars("zeros", "Escalations", [("billing", 0), ("legal", 0)])
    root = parse(svg)
    assert root.findall(f".//{SVG}rect") == []
    assert [t.text for t in root.iter(f"{SVG}text")] == ["billing", "legal", "0", "0"]
    mixed = parse(charts.count_bars("mixed", "Escalations", [("billing", 0), ("legal", 4)]))
    (bar,) = mixed.findall(f".//{SVG}rect")
    assert float(bar.get("width", "0")) == charts.WIDTH - charts.LABEL_WIDTH - charts.VALUE_WIDTH
    for element in root.iter():
        for name in ("x", "y", "width", "height", "x1", "x2", "y1", "y2"):
            if name in element.attrib:
                assert math.isfinite(float(element.attrib[name])), element.attrib


def test_empty_data_renders_a_no_data_chart() -> None:
    for svg in (
        charts.count_bars("none", "Escalations by team", []),
        charts.duration_bars("none", "Resolution", [("billing", None), ("legal", None)]),
        charts.percentile_bars("none", "Time to escalate", None, None, None, 120),
        charts.share_bars("none", "SLA", []),
        charts.bar_chart("none", "Anything", []),
    ):
        root = parse(svg)
        assert root.get("role") == "img"
        assert root.find(f"{SVG}desc").text == "No data in this window."  # type: ignore[union-attr]
        assert "No data in this window" in [t.text for t in root.iter(f"{SVG}text")]


def test_rows_without_data_say_no_data() -> None:
    svg = charts.share_bars("sla", "SLA", [("P0", 0, 0), ("P1", 3, 4), ("P2", 0, 2)])
    root = parse(svg)
    assert root.find(f"{SVG}desc").text == (  # type: ignore[union-attr]
        "P0: no data; P1: 75.0% (3/4); P2: 0.0% (0/2)."
    )
    (bar,) = root.findall(f".//{SVG}rect")  # P2's 0% draws nothing
    span = charts.WIDTH - charts.LABEL_WIDTH - charts.VALUE_WIDTH
    assert float(bar.get("width", "0")) == pytest.approx(span * 0.75, abs=0.1)


def test_time_to_escalate_against_its_target_line() -> None:
    svg = charts.percentile_bars("tte", "Time to escalate", 60, 200, 400, 120)
    root = parse(svg)
    assert root.find(f"{SVG}desc").text == (  # type: ignore[union-attr]
        "p50: 60 s; p90: 3.3 min (over target); max: 6.7 min (over target). Target 120 s."
    )
    bars = root.findall(f".//{SVG}rect")
    assert [b.get("class") for b in bars] == ["bar bar-met", "bar bar-over", "bar bar-over"]
    span = charts.WIDTH - charts.LABEL_WIDTH - charts.VALUE_WIDTH
    (line,) = [e for e in root.iter(f"{SVG}line") if e.get("class") == "chart-target"]
    x = float(line.get("x1", "0"))
    assert x == pytest.approx(charts.LABEL_WIDTH + span * 120 / 400, 0.1)
    # "60 s" would sit on the line at the end of its short bar: it is written past the line
    (p50,) = [t for t in root.iter(f"{SVG}text") if t.text == "60 s"]
    assert float(p50.get("x", "0")) == pytest.approx(x + 6, abs=0.1)
    assert "target 120 s" in [t.text for t in root.iter(f"{SVG}text")]
    # all under the target: the scale still reaches the target line
    calm = parse(charts.percentile_bars("calm", "Time to escalate", 10, 20, 30, 120))
    (line,) = [e for e in calm.iter(f"{SVG}line") if e.get("class") == "chart-target"]
    assert float(line.get("x1", "0")) == charts.WIDTH - charts.VALUE_WIDTH


def test_values_out_of_range_are_clamped() -> None:
    svg = charts.bar_chart(
        "clamp",
        "Shares",
        [charts.Bar("under", -0.5, "-50%"), charts.Bar("over", 2.0, "200%", tone="<bad>")],
        maximum=1.0,
    )
    root = parse(svg)
    (bar,) = root.findall(f".//{SVG}rect")
    assert bar.get("class") == "bar"  # an unknown tone is dropped, not written
    assert float(bar.get("width", "0")) == charts.WIDTH - charts.LABEL_WIDTH - charts.VALUE_WIDTH


def test_meter_is_decorative_and_marks_met_and_missed() -> None:
    met = parse(charts.meter(0.95, 0.9, True))
    assert met.get("aria-hidden") == "true"
    assert [r.get("class") for r in met.iter(f"{SVG}rect")] == ["meter-track", "bar bar-met"]
    missed = parse(charts.meter(0.3, 0.15, False))
    assert [r.get("class") for r in missed.iter(f"{SVG}rect")] == ["meter-track", "bar bar-missed"]
    (tick,) = missed.iter(f"{SVG}line")
    assert tick.get("x1") == "30"
    empty = parse(charts.meter(None, 0.9, None))
    assert [r.get("class") for r in empty.iter(f"{SVG}rect")] == ["meter-track"]
    untargeted = parse(charts.meter(1.5, None, None))
    assert list(untargeted.iter(f"{SVG}line")) == []
    assert [r.get("width") for r in untargeted.iter(f"{SVG}rect")] == ["200", "200"]


def test_no_chart_uses_inline_styles() -> None:
    outputs = [
        charts.count_bars("a", "A", [("x", 1)]),
        charts.duration_bars("b", "B", [("x", 5.0)], target_seconds=1),
        charts.share_bars("c", "C", [("x", 1, 2)], target=0.9),
        charts.meter(0.5, 0.5, False),
        charts.empty_chart("d", "D"),
    ]
    for svg in outputs:
        assert "style" not in str(svg)


def test_figures_are_written_like_the_cli() -> None:
    assert charts.format_percent(0.3) == "30.0%" and charts.format_percent(None) == "—"
    assert charts.format_duration(60) == "60 s"
    assert charts.format_duration(200) == "3.3 min"
    assert charts.format_duration(13800) == "3.8 h"
    assert charts.format_duration(None) == "—"


# --- the page in a browser -----------------------------------------------------------------


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing")
async def test_metrics_page_in_a_browser_with_a_realistic_week(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    base = datetime(2062, 5, 5, tzinfo=UTC)
    await seed_realistic_week(pool, base)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with live_server(client, postgres.url, UNUSED_QUEUE, tmp_path) as server:
        async with chromium_page() as (page, problems):
            url = f"{server.url}/reports/metrics?since=7d&until=2062-05-12"
            await page.goto(url)
            await page.get_by_label("Agent name").fill("ana")
            await page.get_by_label("Agent token").fill(server.setup.tokens["ana"])
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(url)
            await expect(page.get_by_role("heading", name="Escalation metrics")).to_be_visible()

            # 19 of 150 escalated = 12.7% (< 15%, met); 15 of 16 necessary = 93.8% (met);
            # 10 of 14 scored 4-5 = 71.4% (not met)
            cards = page.locator(".metric-card")
            await expect(cards).to_have_count(7)
            rate = page.locator("#metric-escalationRate")
            await expect(rate.locator(".metric-value")).to_have_text("12.7%")
            await expect(rate.locator(".metric-status")).to_have_text("✓ Met")
            csat = page.locator("#metric-csatAfterEscalation")
            await expect(csat.locator(".metric-value")).to_have_text("71.4%")
            await expect(csat.locator(".metric-status")).to_have_text("✗ Not met")
            accuracy = page.locator("#metric-escalationAccuracy")
            await expect(accuracy.locator(".metric-value")).to_have_text("93.8%")
            # 2 of 19 reassigned by an agent: 17/19 = 89.5%, under 90%
            routing = page.locator("#metric-routingAccuracy")
            await expect(routing.locator(".metric-value")).to_have_text("89.5%")
            await expect(routing.locator(".metric-status")).to_have_text("✗ Not met")
            tte = page.locator("#metric-timeToEscalate")
            await expect(tte.locator(".metric-value")).to_have_text("p50 61 s")

            by_team = page.get_by_role("img", name=re.compile("^Escalations by team"))
            await expect(by_team).to_be_visible()
            # Each escalation counts for the team holding it at the end: #4 moved from
            # engineering to billing, #12 from customer success to product.
            await expect(by_team).to_have_accessible_name(
                re.compile("billing: 6; customer success: 2; engineering: 5; legal: 2; product: 4")
            )
            timing = page.get_by_role("img", name=re.compile("^Time to escalate"))
            await expect(timing).to_have_accessible_name(
                re.compile(r"p50: 61 s; p90: 4\.0 min \(over target\)")
            )
            box = await by_team.bounding_box()
            assert box is not None and box["width"] > 300, box

            await page.screenshot(path=str(SCREENSHOTS / "metrics.png"), full_page=True)
            if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
                await page.screenshot(path=str(DOCS_SCREENSHOT), full_page=True)
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.screenshot(path=str(SCREENSHOTS / "metrics-phone.png"), full_page=True)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the phone layout scrolls sideways ({width}px)"
            assert not problems, problems  # no script errors, no CSP refusals
