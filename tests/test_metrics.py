"""Escalation metrics against hand-made escalation_log rows on the real PostgreSQL.

Other tests log events with current (and time-skipped, even years ahead) timestamps, so every
test here reads a window in a far-future year (2071-2073) that only its own rows fall in.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from cli.metrics import metrics_command, render_text
from localstack.postgres import EmbeddedPostgres
from web.metrics import (
    METRIC_KEYS,
    LogRow,
    MetricsReport,
    build_report,
    compute_metrics,
    parse_window,
    percentile,
)


def at(base: datetime, **delta: float) -> str:
    return (base + timedelta(**delta)).isoformat()


async def insert(pool: asyncpg.Pool, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
    """(ticket_id, action, event) rows, each under a key of its own."""
    await pool.executemany(
        "INSERT INTO escalation_log (idempotency_key, ticket_id, action, event)"
        " VALUES ($1, $2, $3, $4)",
        [
            (f"{ticket}:{action}:{n}", ticket, action, {"ticketId": ticket, **event})
            for n, (ticket, action, event) in enumerate(rows)
        ],
    )


async def seed_week(pool: asyncpg.Pool, base: datetime) -> str:
    """10 tickets in [base, base + 7 d): 3 escalated (E1-E3) and 7 kept with auto-response.

    E1: received +10:00:00, escalated +10:00:30 (30 s), created 09:58:00, engineering/P1,
        SLA due 11:00:30, first response 10:30:30 (in time), resolved 14:00:30 necessary,
        paused 600 s; CSAT after resolution 2 then 5 (latest 5).
    E2: received 11:00:00, escalated 11:01:00 (60 s), created 2020-01-01 (imported), billing/P2,
        SLA due 15:01:00, first response 16:00:00 (late), resolved the next day 11:01:00
        unnecessary, paused 3600 s; CSAT after resolution 2.
    E3: received 12:00:00, escalated 12:03:20 (200 s), created 11:59:00, engineering/P1,
        not resolved, no score.
    """
    prefix = f"MET-{uuid.uuid4().hex[:8]}"
    e1, e2, e3 = (f"{prefix}-E{i}" for i in (1, 2, 3))

    def escalated(
        received: float, delivered: float, created: str, team: str, priority: str, due: float
    ) -> dict[str, Any]:
        return {
            "timestamp": at(base, seconds=delivered),
            "receivedAt": at(base, seconds=received),
            "ticketCreatedAt": created,
            "escalatedTo": team,
            "priority": priority,
            "responseTargetMinutes": 60,
            "slaDueAt": at(base, seconds=due),
        }

    h = 3600
    rows: list[tuple[str, str, dict[str, Any]]] = [
        (
            e1,
            "escalated",
            escalated(
                10 * h,
                10 * h + 30,
                at(base, seconds=9 * h + 58 * 60),
                "engineering",
                "P1",
                11 * h + 30,
            ),
        ),
        (
            e2,
            "escalated",
            escalated(
                11 * h, 11 * h + 60, "2020-01-01T00:00:00+00:00", "billing", "P2", 15 * h + 60
            ),
        ),
        (
            e3,
            "escalated",
            escalated(
                12 * h,
                12 * h + 200,
                at(base, seconds=11 * h + 59 * 60),
                "engineering",
                "P1",
                13 * h + 200,
            ),
        ),
        (
            e1,
            "agent_responded",
            {"firstResponse": True, "timestamp": at(base, seconds=10.5 * h + 30)},
        ),
        (e1, "agent_responded", {"firstResponse": False, "timestamp": at(base, seconds=12 * h)}),
        (e2, "agent_responded", {"firstResponse": True, "timestamp": at(base, seconds=16 * h)}),
        (e1, "csat", {"score": 2, "timestamp": at(base, seconds=11 * h)}),
        (e1, "csat", {"score": 5, "timestamp": at(base, seconds=13 * h)}),
        (e2, "csat", {"score": 2, "timestamp": at(base, seconds=17 * h)}),
        # a score while the escalation is open drives alerts, not the CSAT-after figure
        (e3, "satisfaction_changed", {"score": 5, "timestamp": at(base, seconds=13 * h)}),
        (
            e1,
            "resolved",
            {
                "timestamp": at(base, seconds=14 * h + 30),
                "escalationNecessary": True,
                "team": "engineering",
                "priority": "P1",
                "respondedAt": at(base, seconds=10.5 * h + 30),
                "pausedSeconds": 600,
            },
        ),
        (
            e2,
            "resolved",
            {
                "timestamp": at(base, days=1, seconds=11 * h + 60),
                "escalationNecessary": False,
                "team": "billing",
                "priority": "P2",
                "respondedAt": at(base, seconds=16 * h),
                "pausedSeconds": 3600,
            },
        ),
    ]
    rows += [
        (f"{prefix}-A{i}", "auto_response", {"timestamp": at(base, days=i % 7, hours=9)})
        for i in range(1, 8)
    ]
    # just outside the window: at `until` (excluded) and a second before `since`
    rows += [
        (f"{prefix}-X1", "auto_response", {"timestamp": at(base, days=7)}),
        (f"{prefix}-X2", "escalated", escalated(-90, -1, at(base, seconds=-90), "legal", "P0", 0)),
    ]
    await insert(pool, rows)
    return prefix


def assert_week(report: MetricsReport) -> None:
    data = report.to_json_dict()
    assert set(data) >= {
        "escalationRate",
        "timeToEscalate",
        "escalationAccuracy",
        "csatAfterEscalation",
        "resolutionTime",
        "window",
        "counts",
        "byTeam",
        "byPriority",
    }

    # 3 escalated / (3 + 7) tickets = 0.30, not < 0.15
    assert data["escalationRate"] == {
        "value": 0.3,
        "escalated": 3,
        "tickets": 10,
        "target": "< 15%",
        "met": False,
    }
    # 30, 60, 200 s: p50 rank ceil(1.5)=2 → 60 (< 120 met), p90 rank ceil(2.7)=3 → 200, max 200
    # from createdAt: 150 s (09:58:00→10:00:30), 260 s (11:59:00→12:03:20), E2 ~11 years;
    # p50 rank 2 → 260
    tte = data["timeToEscalate"]
    assert (tte["count"], tte["p50Seconds"], tte["p90Seconds"], tte["maxSeconds"]) == (
        3,
        60,
        200,
        200,
    )
    assert tte["fromCreatedP50Seconds"] == 260
    assert tte["met"] is True and tte["target"] == "p50 < 120 s"
    # E1 necessary, E2 not: 1/2 = 0.5, not > 0.90
    assert data["escalationAccuracy"] == {
        "value": 0.5,
        "necessary": 1,
        "resolved": 2,
        "target": "> 90%",
        "met": False,
    }
    # latest scores: E1 5 (after a 2), E2 2 → 1/2 = 0.5, not > 0.85
    assert data["csatAfterEscalation"] == {
        "value": 0.5,
        "satisfied": 1,
        "rated": 2,
        "target": "> 85%",
        "met": False,
    }
    # E1: 14:00:30 − 10:00:30 = 14400 s − 600 paused = 13800
    # E2: 24 h = 86400 s − 3600 paused = 82800; p50 rank 1 → 13800, p90 rank 2 → 82800
    assert data["resolutionTime"] == {
        "count": 2,
        "p50Seconds": 13800,
        "p90Seconds": 82800,
        "target": None,
        "met": None,
    }
    # E1 responded 10:30:30 <= due 11:00:30; E2 16:00 > 15:01 → 1/2
    assert data["slaAttainment"]["value"] == 0.5
    assert data["counts"] == {
        "tickets": 10,
        "escalated": 3,
        "autoResponse": 7,
        "resolved": 2,
        "rated": 2,
        "agentFirstResponses": 2,
    }

    p1, p2 = data["byPriority"]["P1"], data["byPriority"]["P2"]
    assert set(data["byPriority"]) == {"P1", "P2"}  # X2's P0 is outside the window
    # P1: E1 (30 s) and E3 (200 s) → p50 rank 1 = 30; E1 resolved in SLA
    assert (p1["escalated"], p1["timeToEscalateP50Seconds"], p1["resolved"]) == (2, 30, 1)
    assert (p1["slaAttained"], p1["slaTotal"], p1["slaAttainment"]) == (1, 1, 1.0)
    assert (p2["escalated"], p2["slaAttained"], p2["slaTotal"], p2["slaAttainment"]) == (
        1,
        0,
        1,
        0.0,
    )
    assert set(data["byTeam"]) == {"engineering", "billing"}
    eng = data["byTeam"]["engineering"]
    assert (eng["escalated"], eng["resolved"], eng["resolutionP50Seconds"]) == (2, 1, 13800)
    assert data["byTeam"]["billing"]["resolutionP50Seconds"] == 82800


async def test_metrics_of_a_hand_made_week(pool: asyncpg.Pool) -> None:
    base = datetime(2071, 3, 10, tzinfo=UTC)
    await seed_week(pool, base)
    report = await compute_metrics(pool, base, base + timedelta(days=7))
    assert report.window.since == base and report.window.until == base + timedelta(days=7)
    assert_week(report)
    assert json.loads(json.dumps(report.to_json_dict()))["window"]["since"].startswith("2071-03-10")


async def test_escalation_before_the_window_still_times_its_resolution(pool: asyncpg.Pool) -> None:
    base = datetime(2071, 6, 1, tzinfo=UTC)
    ticket = f"MET-{uuid.uuid4().hex[:8]}-B"
    await insert(
        pool,
        [
            # escalated an hour before the window, SLA due at its start
            (
                ticket,
                "escalated",
                {
                    "timestamp": at(base, hours=-1),
                    "receivedAt": at(base, hours=-1, seconds=-20),
                    "escalatedTo": "legal",
                    "priority": "P0",
                    "slaDueAt": at(base),
                },
            ),
            (
                ticket,
                "resolved",
                {
                    "timestamp": at(base, hours=1),
                    "escalationNecessary": True,
                    "team": "legal",
                    "priority": "P0",
                    "respondedAt": at(base, minutes=-30),
                    "pausedSeconds": 0,
                },
            ),
            (f"{ticket}-A", "auto_response", {"timestamp": at(base)}),  # at since: included
            (f"{ticket}-Z", "auto_response", {"timestamp": at(base, days=1)}),  # at until: not
        ],
    )
    data = (await compute_metrics(pool, base, base + timedelta(days=1))).to_json_dict()
    # no escalation in the window, one auto-response: rate 0/1 = 0.0, met
    assert data["escalationRate"]["value"] == 0.0 and data["escalationRate"]["met"] is True
    assert data["timeToEscalate"]["met"] is None and data["timeToEscalate"]["count"] == 0
    # resolved 01:00 − escalated 23:00 the day before = 7200 s
    assert data["resolutionTime"]["p50Seconds"] == 7200
    assert data["escalationAccuracy"]["value"] == 1.0 and data["escalationAccuracy"]["met"] is True
    # responded 23:30 <= due 00:00
    assert data["byPriority"]["P0"]["slaAttainment"] == 1.0
    assert data["byPriority"]["P0"]["escalated"] == 0


async def test_empty_window_has_no_data_and_does_not_crash(pool: asyncpg.Pool) -> None:
    since = datetime(2073, 1, 1, tzinfo=UTC)
    report = await compute_metrics(pool, since, since + timedelta(days=30))
    data = report.to_json_dict()
    for key in METRIC_KEYS:
        assert data[key]["met"] is None, key
    assert data["escalationRate"]["value"] is None
    assert data["timeToEscalate"]["p50Seconds"] is None
    assert data["counts"]["tickets"] == 0
    assert data["byTeam"] == {} and data["byPriority"] == {}
    text = render_text(report)
    assert text.count("no data") == 7


async def test_routing_accuracy_is_the_share_of_escalations_no_agent_reassigned(
    pool: asyncpg.Pool,
) -> None:
    """10 tickets escalated in a day of 2071-09: R1 moved to billing, R2 moved twice (counted
    once), R3 only changed priority; R4-R10 kept what triage gave them. B was escalated the day
    before and reassigned inside the window: in neither count. A priority lift the workflow
    made itself (an angrier reply: `priority_changed`) is not a reassignment."""
    base = datetime(2071, 9, 1, tzinfo=UTC)
    prefix = f"RTE-{uuid.uuid4().hex[:8]}"

    def escalated(n: int) -> tuple[str, str, dict[str, Any]]:
        return (
            f"{prefix}-R{n}",
            "escalated",
            {
                "timestamp": at(base, hours=n),
                "receivedAt": at(base, hours=n, seconds=-20),
                "escalatedTo": "engineering",
                "priority": "P1",
            },
        )

    def reassigned(ticket: str, hours: float, **event: str) -> tuple[str, str, dict[str, Any]]:
        return (ticket, "reassigned", {"timestamp": at(base, hours=hours), **event})

    r = [f"{prefix}-R{n}" for n in range(11)]
    rows = [escalated(n) for n in range(1, 11)]
    rows += [
        reassigned(r[1], 1.5, **{"from": "engineering", "to": "billing"}),
        reassigned(r[2], 2.5, **{"from": "engineering", "to": "billing"}),
        reassigned(r[2], 2.7, **{"from": "billing", "to": "legal"}),
        reassigned(r[3], 3.5, **{"fromPriority": "P1", "toPriority": "P2"}),
        (r[4], "priority_changed", {"timestamp": at(base, hours=4.5), "to": "P0"}),
        (f"{prefix}-B", "escalated", {"timestamp": at(base, hours=-2), "priority": "P2"}),
        reassigned(f"{prefix}-B", 0.5, **{"from": "engineering", "to": "product"}),
    ]
    await insert(pool, rows)

    data = (await compute_metrics(pool, base, base + timedelta(days=1))).to_json_dict()
    # (10 escalated − 3 reassigned) / 10 = 0.7, under the 90% target
    assert data["routingAccuracy"] == {
        "value": 0.7,
        "kept": 7,
        "reassigned": 3,
        "escalated": 10,
        "target": ">= 90%",
        "met": False,
    }
    # The day after: the next ten, one of them reassigned: 9/10 = 0.9 meets ">= 90%".
    later = base + timedelta(days=1)
    await insert(
        pool,
        [
            (
                f"{prefix}-S{n}",
                "escalated",
                {"timestamp": at(later, hours=n), "escalatedTo": "legal", "priority": "P1"},
            )
            for n in range(10)
        ]
        + [(f"{prefix}-S0", "reassigned", {"timestamp": at(later, hours=1), "to": "billing"})],
    )
    report = await compute_metrics(pool, later, later + timedelta(days=1))
    routing = report.to_json_dict()["routingAccuracy"]
    assert (routing["value"], routing["kept"], routing["met"]) == (0.9, 9, True)
    line = next(x for x in render_text(report).splitlines() if x.startswith("routing accuracy"))
    assert "90.0% (9/10 not reassigned)" in line and ">= 90%" in line and line.endswith(" met")


async def test_compute_metrics_rejects_an_inverted_window(pool: asyncpg.Pool) -> None:
    since = datetime(2073, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="since < until"):
        await compute_metrics(pool, since, since)


def test_parse_window() -> None:
    assert parse_window("7d") == timedelta(days=7)
    assert parse_window("24h") == timedelta(hours=24)
    assert parse_window("30d") == timedelta(days=30)
    assert parse_window(" 90m ") == timedelta(minutes=90)
    for bad in ("", "7", "d", "7x", "-7d", "1.5d", "7 days", "0d", "99999d"):
        with pytest.raises(ValueError, match="invalid window"):
            parse_window(bad)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([200, 30, 60], 50) == 60  # rank ceil(1.5) = 2
    assert percentile([30, 60, 200], 90) == 200  # rank ceil(2.7) = 3
    assert percentile([1, 2, 3, 4], 50) == 2  # rank ceil(2.0) = 2, no interpolation
    assert percentile([7], 90) == 7


async def test_cli_text_and_json(pool: asyncpg.Pool, postgres: EmbeddedPostgres) -> None:
    base = datetime(2072, 3, 10, tzinfo=UTC)
    await seed_week(pool, base)
    now = base + timedelta(days=7)

    code, text = await metrics_command(postgres.url, "7d", False, now=now)
    assert code == 0, text
    lines = {line.split("  ")[0]: line for line in text.splitlines()}
    assert lines["escalation rate"].endswith("NOT met") and "30.0%" in lines["escalation rate"]
    assert lines["time to escalate"].endswith(" met") and "p50 60 s" in lines["time to escalate"]
    assert lines["escalation accuracy"].endswith("NOT met")
    assert lines["csat after escalation"].endswith("NOT met")
    assert "p50 3.8 h" in lines["resolution time"]  # 13800 s
    assert "< 15%" in lines["escalation rate"] and "> 85%" in lines["csat after escalation"]

    code, output = await metrics_command(postgres.url, "7d", True, now=now)
    assert code == 0
    assert_week(MetricsReport.model_validate(json.loads(output)))


async def test_cli_rejects_a_bad_window(postgres: EmbeddedPostgres) -> None:
    code, text = await metrics_command(postgres.url, "a week", False)
    assert code == 2 and text.startswith("error: invalid window 'a week'")


async def test_cli_reports_an_unreachable_database() -> None:
    code, text = await metrics_command("postgresql://nobody@127.0.0.1:1/none", "7d", False)
    assert code == 1 and text.startswith("error: cannot connect")


def test_episodes_count_each_and_go_to_the_team_holding_them_at_the_end() -> None:
    """Pure (no database): one ticket escalated twice is two escalations; an episode moved
    from engineering to billing after its first response counts for billing in every figure
    (escalated, resolved, resolution time, SLA), and its first response still meets the SLA.

    E: episode ep-1 escalated 00:00 to engineering P1 (due 01:00), first response 00:20,
       reassigned to billing P2 at 00:30, resolved by billing 02:00 (respondedAt 00:20);
       CSAT 2. Episode ep-2 (reopened) escalated 03:00 to engineering P1 (due 04:00), never
       answered, resolved 05:00 by engineering; CSAT 5. A kept with auto-response."""
    base = datetime(2071, 12, 1, tzinfo=UTC)
    rows: list[LogRow] = []

    def row(action: str, episode: str | None, hours: float, ticket: str = "E", **event: Any):
        stamp = base + timedelta(hours=hours)
        data = {"timestamp": stamp.isoformat(), **event}
        rows.append(LogRow(len(rows) + 1, ticket, action, data, stamp, episode))

    row("escalated", "ep-1", 0, escalatedTo="engineering", priority="P1",
        receivedAt=base.isoformat(), slaDueAt=(base + timedelta(hours=1)).isoformat())  # fmt: skip
    row("agent_responded", "ep-1", 1 / 3, firstResponse=True)
    row("reassigned", "ep-1", 0.5, to="billing", toPriority="P2", **{"from": "engineering"})
    row("resolved", "ep-1", 2, team="billing", priority="P2", escalationNecessary=True,
        respondedAt=(base + timedelta(minutes=20)).isoformat(), pausedSeconds=0)  # fmt: skip
    row("csat", "ep-1", 2.5, score=2)
    row("escalated", "ep-2", 3, escalatedTo="engineering", priority="P1",
        receivedAt=(base + timedelta(hours=3)).isoformat(),
        slaDueAt=(base + timedelta(hours=4)).isoformat())  # fmt: skip
    row("resolved", "ep-2", 5, team="engineering", priority="P1", escalationNecessary=True,
        respondedAt=None, pausedSeconds=0)  # fmt: skip
    row("csat", "ep-2", 5.5, score=5)
    row("auto_response", "ep-a", 6, ticket="A")

    report = build_report(rows, base, base + timedelta(days=1))
    assert (report.counts.escalated, report.counts.tickets, report.counts.resolved) == (2, 3, 2)
    assert (report.csat_after_escalation.rated, report.csat_after_escalation.satisfied) == (2, 1)
    assert (report.sla_attainment.attained, report.sla_attainment.total) == (1, 2)
    assert (report.routing_accuracy.kept, report.routing_accuracy.reassigned) == (1, 1)

    billing, engineering = report.by_team["billing"], report.by_team["engineering"]
    assert (billing.escalated, billing.resolved, billing.sla_attained, billing.sla_total) == (
        1,
        1,
        1,
        1,
    )
    assert billing.resolution_p50_seconds == 2 * 3600
    assert (engineering.escalated, engineering.resolved, engineering.sla_attained) == (1, 1, 0)
    assert engineering.resolution_p50_seconds == 2 * 3600
    assert (report.by_priority["P2"].escalated, report.by_priority["P1"].escalated) == (1, 1)
    assert report.by_priority["P2"].sla_attainment == 1.0


async def test_episodes_of_one_ticket_are_counted_apart_in_the_database(
    pool: asyncpg.Pool,
) -> None:
    """The same through PostgreSQL: rows carry `episode_id` (the workflow's log rows and the
    CSAT answers do); an escalation before the window is found by its episode."""
    base = datetime(2072, 6, 1, tzinfo=UTC)
    ticket = f"EPI-{uuid.uuid4().hex[:8]}"
    rows = [
        ("ep-a", "escalated", {"timestamp": at(base, hours=-2), "escalatedTo": "legal",
                               "priority": "P1", "slaDueAt": at(base, hours=-1)}),
        ("ep-a", "resolved", {"timestamp": at(base, hours=1), "team": "legal", "priority": "P1",
                              "respondedAt": at(base, hours=-1.5), "escalationNecessary": True}),
        ("ep-b", "escalated", {"timestamp": at(base, hours=2), "escalatedTo": "legal",
                               "priority": "P1", "receivedAt": at(base, hours=2, seconds=-9)}),
        ("ep-b", "csat", {"timestamp": at(base, hours=3), "score": 4}),
    ]  # fmt: skip
    await pool.executemany(
        "INSERT INTO escalation_log (idempotency_key, ticket_id, episode_id, action, event)"
        " VALUES ($1, $2, $3, $4, $5)",
        [
            (f"{ticket}:{episode}:{action}", ticket, episode, action, {"ticketId": ticket, **event})
            for episode, action, event in rows
        ],
    )
    data = (await compute_metrics(pool, base, base + timedelta(days=1))).to_json_dict()
    assert data["counts"]["escalated"] == 1  # ep-b; ep-a was escalated before the window
    assert data["resolutionTime"]["p50Seconds"] == 3 * 3600  # ep-a's own escalation
    assert data["slaAttainment"]["value"] == 1.0
    assert data["csatAfterEscalation"]["rated"] == 1
