-- Agents' corrections of triage as labelled examples (issue 11): every reassign to another team
-- and every priority change an agent makes, with the payload triage decided on (the intake
-- payload with the context Step 1 gathered), what triage decided and what the agent set.
-- `starter.py triage corrections --export` writes them in the triage-dev case format, so
-- `starter.py triage eval` scores a policy change against a team's own history. Written with
-- the `reassigned` escalation_log event in one transaction; the key (workflow id, episode id,
-- the event's sequence number) makes activity retries and replays harmless.
CREATE TABLE IF NOT EXISTS triage_corrections (
    id                 bigserial PRIMARY KEY,
    idempotency_key    text NOT NULL UNIQUE,
    ticket_id          text NOT NULL,
    workflow_id        text NOT NULL,
    episode_id         text NOT NULL,           -- the escalation's first run id
    run_id             text NOT NULL,           -- the run that recorded it
    sequence           integer NOT NULL,        -- the log event's number within the episode
    payload            jsonb NOT NULL,          -- Contract 1, as triage saw it
    triage_team        text,
    triage_priority    text,
    triage_scenario    text,
    previous_team      text NOT NULL,           -- before this correction
    previous_priority  text NOT NULL,
    agent_team         text NOT NULL,           -- what the agent set
    agent_priority     text NOT NULL,
    agent              text,
    reason             text,
    corrected_at       timestamptz NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS triage_corrections_by_episode
    ON triage_corrections (workflow_id, episode_id, sequence);
CREATE INDEX IF NOT EXISTS triage_corrections_by_ticket ON triage_corrections (ticket_id);
