-- Scale (issue 13, item 6): indexes for what runs on every page view, scrape and ticket, so
-- none of it reads a whole table once the log holds millions of rows.

-- The agents' queue and the open gauge (web/queries.py open_escalations, web/prometheus.py):
-- `state <> 'resolved'` could use no index (the old one leads with state and the queue sorts on
-- other columns), so every queue read was a scan and a sort of every episode ever escalated.
-- Partial on the open rows, in the queue's own order: the read walks it and stops at the limit.
CREATE INDEX IF NOT EXISTS support_assignments_open
    ON support_assignments (priority, sla_due_at NULLS LAST, escalated_at, ticket_id)
    WHERE state <> 'resolved';

-- Step 1's lookups by the customer's email (activities/package.py) compare lower(email): the
-- plain unique index on customers.email and tickets_by_customer could not serve them.
CREATE INDEX IF NOT EXISTS customers_by_lower_email ON customers (lower(email));
CREATE INDEX IF NOT EXISTS tickets_by_lower_customer
    ON tickets (lower(customer_email), created_at);

-- When an event happened, as web/metrics.py reads it: its ISO `timestamp` (or another ISO
-- field: `receivedAt`, `slaDueAt`, ...), naive taken as UTC like metrics.parse_time; NULL
-- when missing or malformed (a malformed value no longer fails the whole metrics query).
-- IMMUTABLE so it can be indexed: an ISO date and time with or without an offset reads the
-- same under every TimeZone and DateStyle (naive values are read as UTC explicitly).
CREATE OR REPLACE FUNCTION escalation_time(value text) RETURNS timestamptz
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT AS $$
BEGIN
    IF value !~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}' OR NOT pg_input_is_valid(value, 'timestamp')
    THEN
        RETURN NULL;
    END IF;
    IF value ~ '([Zz]|[+-]\d{2}(:?\d{2}(:?\d{2})?)?)$' THEN
        IF NOT pg_input_is_valid(value, 'timestamptz') THEN
            RETURN NULL;
        END IF;
        RETURN value::timestamptz;
    END IF;
    RETURN value::timestamp AT TIME ZONE 'UTC';
END
$$;

-- The metrics' times, parsed once when an event is written (a parse at read time costs ~10 us
-- a value: a 30-day report at a million rows would spend seconds on it). `happened_at` is when
-- the event happened (its timestamp, else logged_at): the metrics' window, indexed per action.
-- A table rewrite on an existing log, once.
ALTER TABLE escalation_log
    ADD COLUMN IF NOT EXISTS event_at timestamptz
        GENERATED ALWAYS AS (escalation_time(event->>'timestamp')) STORED,
    ADD COLUMN IF NOT EXISTS happened_at timestamptz
        GENERATED ALWAYS AS (coalesce(escalation_time(event->>'timestamp'), logged_at)) STORED,
    ADD COLUMN IF NOT EXISTS received_at timestamptz GENERATED ALWAYS AS (
        CASE WHEN action = 'escalated' THEN escalation_time(event->>'receivedAt') END) STORED,
    ADD COLUMN IF NOT EXISTS ticket_created_at timestamptz GENERATED ALWAYS AS (
        CASE WHEN action = 'escalated' THEN escalation_time(event->>'ticketCreatedAt') END) STORED,
    ADD COLUMN IF NOT EXISTS sla_due_at timestamptz GENERATED ALWAYS AS (
        CASE WHEN action = 'escalated' THEN escalation_time(event->>'slaDueAt') END) STORED,
    ADD COLUMN IF NOT EXISTS responded_at timestamptz GENERATED ALWAYS AS (
        CASE WHEN action = 'resolved' THEN escalation_time(event->>'respondedAt') END) STORED;
CREATE INDEX IF NOT EXISTS escalation_log_by_action_at ON escalation_log (action, happened_at);

-- Prometheus (web/prometheus.py) without scanning history: counters maintained as the log and
-- the resolutions are written. A trigger appends one delta row per counted event (no row is
-- updated in place, so writers never wait on each other); a scrape folds the deltas into one
-- row per series (DELETE ... RETURNING and INSERT in one statement: a delta committed meanwhile
-- waits for the next fold, none is counted twice) and sums what is left.
-- `bucket`: for an escalation, the index of the first TIME_TO_ESCALATE_BUCKETS bound its
-- seconds are <= (11 past the last; -1 when it has no time to escalate).
CREATE TABLE IF NOT EXISTS metric_counts (
    metric    text NOT NULL,      -- escalations | resolved | auto_responses | alerts
    team      text NOT NULL DEFAULT '',
    priority  text NOT NULL DEFAULT '',
    kind      text NOT NULL DEFAULT '',
    bucket    integer NOT NULL DEFAULT -1,
    n         bigint NOT NULL DEFAULT 1,
    seconds   double precision NOT NULL DEFAULT 0
);

-- The histogram's bounds (web/prometheus.py TIME_TO_ESCALATE_BUCKETS; a test checks they match).
CREATE OR REPLACE FUNCTION escalation_tte_bounds() RETURNS double precision[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT '{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}'::double precision[] $$;

CREATE OR REPLACE FUNCTION escalation_tte_bucket(seconds double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN seconds IS NULL THEN -1
                ELSE (SELECT count(*)::int FROM unnest(escalation_tte_bounds()) AS b
                       WHERE seconds > b) END
$$;

CREATE OR REPLACE FUNCTION escalation_log_counted() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    seconds double precision;
BEGIN
    IF NEW.action = 'escalated' THEN
        seconds := extract(epoch FROM escalation_time(NEW.event->>'timestamp')
                                      - escalation_time(NEW.event->>'receivedAt'));
        INSERT INTO metric_counts (metric, team, priority, bucket, seconds)
        VALUES ('escalations', coalesce(NEW.event->>'escalatedTo', ''),
                coalesce(NEW.event->>'priority', ''), escalation_tte_bucket(seconds),
                coalesce(seconds, 0));
    ELSIF NEW.action = 'auto_response' THEN
        INSERT INTO metric_counts (metric) VALUES ('auto_responses');
    ELSIF NEW.action LIKE 'alert:%' THEN
        INSERT INTO metric_counts (metric, kind) VALUES ('alerts', substr(NEW.action, 7));
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS escalation_log_counts ON escalation_log;
CREATE TRIGGER escalation_log_counts AFTER INSERT ON escalation_log
    FOR EACH ROW WHEN (NEW.action IN ('escalated', 'auto_response') OR NEW.action LIKE 'alert:%')
    EXECUTE FUNCTION escalation_log_counted();

CREATE OR REPLACE FUNCTION resolution_counted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO metric_counts (metric, team, priority) VALUES ('resolved', NEW.team, NEW.priority);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS resolutions_counts ON resolutions;
CREATE TRIGGER resolutions_counts AFTER INSERT ON resolutions
    FOR EACH ROW EXECUTE FUNCTION resolution_counted();

-- What was there before this migration, counted once (the log is read here, never again).
-- (Rerunning the migration is prevented by schema_migrations; the table starts empty.)
INSERT INTO metric_counts (metric, team, priority, kind, bucket, n, seconds)
SELECT 'escalations', coalesce(event->>'escalatedTo', ''), coalesce(event->>'priority', ''), '',
       escalation_tte_bucket(s), count(*), coalesce(sum(s), 0)
  FROM (SELECT event, extract(epoch FROM escalation_time(event->>'timestamp')
                                         - escalation_time(event->>'receivedAt'))::float8 AS s
          FROM escalation_log WHERE action = 'escalated') AS e
 GROUP BY 2, 3, 5
UNION ALL
SELECT 'auto_responses', '', '', '', -1, count(*), 0
  FROM escalation_log WHERE action = 'auto_response' HAVING count(*) > 0
UNION ALL
SELECT 'alerts', '', '', substr(action, 7), -1, count(*), 0
  FROM escalation_log WHERE action LIKE 'alert:%' GROUP BY action
UNION ALL
SELECT 'resolved', team, priority, '', -1, count(*), 0 FROM resolutions GROUP BY team, priority;
