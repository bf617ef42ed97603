-- Seed "De-escalation": update ticket status, log resolution, learn from solution, update KB if
-- new pattern, consider adding to the auto-response list.

-- Learned patterns: quick resolutions of one scenario + error code + normalised resolution.
-- `collecting` until `occurrences` reaches the policy's threshold, then `draft` (a KB article and
-- an auto-response candidate, rendered from templates), `approved` by a human (from then on
-- triage answers matching tickets with it) or `rejected`.
CREATE TABLE IF NOT EXISTS kb_patterns (
    id                     bigserial PRIMARY KEY,
    pattern_key            text NOT NULL UNIQUE,
    scenario               text NOT NULL,
    error_code             text,
    normalised_resolution  text NOT NULL,
    status                 text NOT NULL DEFAULT 'collecting'
                           CHECK (status IN ('collecting', 'draft', 'approved', 'rejected')),
    occurrences            integer NOT NULL DEFAULT 0,
    ticket_ids             text[] NOT NULL DEFAULT '{}',
    symptom_terms          text[] NOT NULL DEFAULT '{}',
    title                  text,
    article_markdown       text,
    auto_response          text,
    drafted_at             timestamptz,
    decided_at             timestamptz,
    decided_by             text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS kb_patterns_approved
    ON kb_patterns (scenario, error_code) WHERE status = 'approved';

-- One row per resolved escalation with its timing; the ticket id is the idempotency key.
CREATE TABLE IF NOT EXISTS resolutions (
    ticket_id                 text PRIMARY KEY,
    team                      text NOT NULL,
    priority                  text NOT NULL,
    scenario                  text,
    error_code                text,
    resolved_by               text NOT NULL,
    resolution                text NOT NULL,
    escalation_necessary      boolean NOT NULL,
    escalated_at              timestamptz NOT NULL,
    responded_at              timestamptz,
    resolved_at               timestamptz NOT NULL,
    response_target_seconds   integer NOT NULL,
    paused_seconds            double precision NOT NULL DEFAULT 0,
    resolution_seconds        double precision NOT NULL,   -- escalated → resolved, paused excluded
    after_response_seconds    double precision,            -- first response → resolved, paused excluded
    quick                     boolean NOT NULL,
    symptom_terms             text[] NOT NULL DEFAULT '{}',
    pattern_id                bigint REFERENCES kb_patterns (id),
    recorded_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS resolutions_by_pattern ON resolutions (pattern_id);
