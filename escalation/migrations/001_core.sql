-- Customers, their tickets and upload events: where Step 1 gathers missing context from.
CREATE TABLE IF NOT EXISTS customers (
    user_id          text PRIMARY KEY,
    email            text NOT NULL UNIQUE,
    name             text,
    account_status   text NOT NULL DEFAULT 'free',
    account_created  timestamptz NOT NULL,
    total_galleries  integer NOT NULL DEFAULT 0,
    total_photos     integer NOT NULL DEFAULT 0,
    last_login       timestamptz
);

-- Every ticket that reached the service, escalated or not (the escalation-rate denominator),
-- plus older tickets from the helpdesk (the customer's history).
CREATE TABLE IF NOT EXISTS tickets (
    ticket_id        text PRIMARY KEY,
    user_id          text REFERENCES customers (user_id),
    customer_email   text NOT NULL,
    subject          text NOT NULL,
    category         text,
    urgency          text,
    error_code       text,
    created_at       timestamptz NOT NULL,
    resolved_at      timestamptz,
    resolution       text,
    status           text NOT NULL DEFAULT 'open'
);
CREATE INDEX IF NOT EXISTS tickets_by_customer ON tickets (customer_email, created_at);
CREATE INDEX IF NOT EXISTS tickets_by_error ON tickets (error_code, created_at)
    WHERE error_code IS NOT NULL;

CREATE TABLE IF NOT EXISTS upload_events (
    id               bigserial PRIMARY KEY,
    user_id          text NOT NULL REFERENCES customers (user_id),
    attempted_at     timestamptz NOT NULL,
    status           text NOT NULL,          -- 'succeeded' | 'failed'
    error_code       text,
    browser_info     text,
    file_size_bytes  bigint,
    file_count       integer
);
CREATE INDEX IF NOT EXISTS upload_events_by_user ON upload_events (user_id, attempted_at);

-- Step 6 exactly as the seed writes it, plus what the agents' queue (Step 9) needs.
CREATE TABLE IF NOT EXISTS support_assignments (
    ticket_id               text PRIMARY KEY,
    assigned_to_team        text NOT NULL,
    priority                text NOT NULL,
    escalated_at            timestamptz NOT NULL,
    escalation_reason       text NOT NULL,
    expected_response_time  interval NOT NULL,
    -- queue
    workflow_id             text NOT NULL,
    state                   text NOT NULL DEFAULT 'escalated',
    subject                 text,
    customer_name           text,
    premium                 boolean NOT NULL DEFAULT false,
    time_sensitive          boolean NOT NULL DEFAULT false,
    sentiment               text,
    scenario                text,
    sla_due_at              timestamptz,
    summary_markdown        text,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS support_assignments_queue
    ON support_assignments (state, priority, sla_due_at);

-- Step 7: one row per event, the seed's JSON in `event`; the key makes retries harmless.
CREATE TABLE IF NOT EXISTS escalation_log (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    ticket_id        text NOT NULL,
    action           text NOT NULL,
    event            jsonb NOT NULL,
    logged_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS escalation_log_by_ticket ON escalation_log (ticket_id, id);
CREATE INDEX IF NOT EXISTS escalation_log_by_action ON escalation_log (action, logged_at);

-- Every email or alert we send, keyed so an activity retry never sends twice.
CREATE TABLE IF NOT EXISTS notifications (
    idempotency_key  text PRIMARY KEY,
    ticket_id        text NOT NULL,
    kind             text NOT NULL,
    channel          text NOT NULL,          -- 'email' | 'webhook'
    recipient        text NOT NULL,
    subject          text,
    body             text NOT NULL,
    message_id       text,
    status           text NOT NULL DEFAULT 'pending',   -- 'pending' | 'sent'
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX IF NOT EXISTS notifications_by_ticket ON notifications (ticket_id, created_at);
