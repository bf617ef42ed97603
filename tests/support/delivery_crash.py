"""A worker that dies in the crash window of activities.delivery: it delivers one email or webhook
as attempt 1 of an activity and is killed (os._exit, FaultInjection.exit_after_send) right after
the channel accepted and before the `sent` record — the process ends with exit status 1.

    python -m tests.support.delivery_crash email DATABASE_URL SMTP_URL KEY TICKET RECIPIENT
    python -m tests.support.delivery_crash webhook DATABASE_URL SMTP_URL KEY TICKET URL

It runs inside temporalio's ActivityEnvironment as activity ACTIVITY_ID of run RUN_ID, so the
test can retry it as attempt 2 of the same activity execution, as Temporal would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys

from temporalio.testing import ActivityEnvironment

from activities.db import connect
from activities.email import send_email_once
from activities.settings import FaultInjection, Settings
from activities.webhook import post_webhook_once

RUN_ID = "crash-test-run"
ACTIVITY_ID = "deliver"


def activity_environment(attempt: int) -> ActivityEnvironment:
    """Attempt `attempt` of activity ACTIVITY_ID in run RUN_ID."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_run_id=RUN_ID, activity_id=ACTIVITY_ID, attempt=attempt
    )
    return env


async def deliver(settings: Settings, channel: str, key: str, ticket: str, to: str) -> object:
    """The delivery the crash interrupts, and the test's retry repeats."""
    if channel == "email":
        return await send_email_once(
            settings,
            key=key,
            ticket_id=ticket,
            kind="acknowledgement",
            recipient=to,
            subject=f"We are on it ({ticket})",
            body=f"Your ticket {ticket} is with the team.",
        )
    return await post_webhook_once(
        settings, key=key, ticket_id=ticket, kind="alert:test", url=to, payload={"ticket": ticket}
    )


async def main(
    channel: str, database_url: str, smtp_url: str, key: str, ticket: str, to: str
) -> None:
    pool = await connect(database_url, max_size=1)
    settings = Settings(pool=pool, smtp_url=smtp_url, faults=FaultInjection(exit_after_send=True))
    await activity_environment(attempt=1).run(deliver, settings, channel, key, ticket, to)
    raise SystemExit("the fault hook did not fire: delivered and recorded")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
