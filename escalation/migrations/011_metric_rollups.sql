-- Scale (issue 13, item 6): the metrics page without aggregating every event of its window.
--
-- `metric_episodes`: one row per escalation episode (the metrics' key, web/metrics.py: the
-- episode, or 'ticket:<id>' for rows from before episodes), what web/metrics.py's _REPORT_SQL
-- computes for it over all of its events: the team and priority holding it at the end, its
-- first escalation (when, time to escalate, from creation), its first resolution (when,
-- necessary, resolution time, SLA attained), its latest CSAT answer, its latest auto-response
-- and reassignment, its first responses. Kept by a statement trigger on escalation_log that
-- recomputes the episodes an insert (COPY included), update or delete touched, one set-based
-- statement per statement written, each episode under an advisory lock so two writers of one
-- episode never lose each other's event.
--
-- `metric_days`: the summable figures of metric_episodes per UTC day, team and priority (each
-- figure on the day of the time it counts by: escalations on the escalation's day, resolutions
-- on the resolution's, ...), kept by a row trigger on metric_episodes (the old row's figures
-- out, the new row's in). A report reads whole days from metric_days and only the two partial
-- days at the window's edges, and the percentiles (exact: nearest rank over the window's
-- values), from metric_episodes through its indexes; an episode with events on both sides of
-- the window's end is recomputed from its events before the end (metric_episodes_of's
-- `before`). See web/metrics.py compute_metrics_rolled.
CREATE TABLE IF NOT EXISTS metric_episodes (
    episode        text PRIMARY KEY,
    team           text NOT NULL,
    priority       text NOT NULL,
    esc_at         timestamptz,       -- the first `escalated` event's time (happened_at)
    tte            double precision,  -- its time to escalate (seconds, >= 0), NULL without one
    created        double precision,  -- from the ticket's creation
    res_at         timestamptz,       -- the first `resolved` event's time
    necessary      boolean,           -- its escalationNecessary when a boolean
    resolution     double precision,  -- resolution time: resolved − escalated − paused
    attained       boolean,           -- responded by the SLA deadline (NULL: no deadline)
    csat_at        timestamptz,       -- the latest valid CSAT answer's time
    score          integer,
    auto_at        timestamptz,       -- the latest `auto_response` event's time
    moved_at       timestamptz,       -- the latest `reassigned` event's time
    fr_at          timestamptz,       -- the first truthy first response's time
    fr_n           integer NOT NULL DEFAULT 0,  -- how many truthy first responses
    ticket_id      text NOT NULL,
    first_at       timestamptz NOT NULL,  -- its first and last events' times: a window ending
    last_at        timestamptz NOT NULL   -- between them is computed from its events
);
CREATE INDEX IF NOT EXISTS metric_episodes_by_esc ON metric_episodes (esc_at)
    INCLUDE (team, priority, tte, created, moved_at, auto_at, last_at) WHERE esc_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS metric_episodes_by_res ON metric_episodes (res_at)
    INCLUDE (team, priority, necessary, resolution, attained, last_at) WHERE res_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS metric_episodes_by_auto ON metric_episodes (auto_at)
    WHERE auto_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS metric_episodes_by_last ON metric_episodes (last_at)
    INCLUDE (first_at, ticket_id);
CREATE INDEX IF NOT EXISTS metric_episodes_by_csat ON metric_episodes (csat_at) INCLUDE (score)
    WHERE csat_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS metric_episodes_by_fr ON metric_episodes (fr_at) INCLUDE (fr_n)
    WHERE fr_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS metric_days (
    day              date NOT NULL,
    team             text NOT NULL,
    priority         text NOT NULL,
    escalated        bigint NOT NULL DEFAULT 0,  -- by esc_at's day
    auto             bigint NOT NULL DEFAULT 0,  -- by auto_at's day
    resolved         bigint NOT NULL DEFAULT 0,  -- by res_at's day, like the next four
    judged           bigint NOT NULL DEFAULT 0,
    necessary        bigint NOT NULL DEFAULT 0,
    sla_attained     bigint NOT NULL DEFAULT 0,
    sla_total        bigint NOT NULL DEFAULT 0,
    rated            bigint NOT NULL DEFAULT 0,  -- by csat_at's day, with satisfied
    satisfied        bigint NOT NULL DEFAULT 0,
    first_responses  bigint NOT NULL DEFAULT 0,  -- by fr_at's day
    PRIMARY KEY (day, team, priority)
);

-- An episode's events, by the metrics' key of the episode (what a refresh reads).
CREATE INDEX IF NOT EXISTS escalation_log_by_metric_episode
    ON escalation_log ((coalesce(episode_id, event->>'episodeId', 'ticket:' || ticket_id)))
    WHERE action IN ('auto_response', 'escalated', 'csat', 'agent_responded', 'resolved',
                     'reassigned', 'priority_changed');

-- _REPORT_SQL's _TRUTHY: Python's truth of a JSON value.
CREATE OR REPLACE FUNCTION metric_truthy(value jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(value)
        WHEN 'boolean' THEN value::text = 'true'
        WHEN 'number' THEN (value::text)::numeric <> 0
        WHEN 'string' THEN value #>> '{}' <> ''
        WHEN 'array' THEN jsonb_array_length(value) > 0
        WHEN 'object' THEN value <> '{}'::jsonb
        ELSE false END
$$;

-- The figures of the episodes `keys`, as _REPORT_SQL's `eps` computes them over every event
-- of the episode (no window; only those before `before` when given): the same expressions,
-- except that nothing here may fail a write of the log (a pausedSeconds beyond float8 counts
-- as 0 where the report's query would fail). An episode's events are found by its key's index.
CREATE OR REPLACE FUNCTION metric_episodes_of(keys text[], before timestamptz DEFAULT NULL)
    RETURNS SETOF metric_episodes
    LANGUAGE sql STABLE AS $fn$
WITH rows AS (
    SELECT e.id, e.ticket_id, e.action, e.event, e.happened_at AS at, e.event_at, e.received_at,
           e.ticket_created_at, e.sla_due_at, e.responded_at,
           coalesce(e.episode_id, e.event->>'episodeId', 'ticket:' || e.ticket_id) AS episode,
           CASE e.action WHEN 'escalated' THEN nullif(e.event->>'escalatedTo', '')
                         WHEN 'reassigned' THEN nullif(e.event->>'to', '')
                         WHEN 'resolved' THEN nullif(e.event->>'team', '') END AS team_v,
           CASE e.action WHEN 'escalated' THEN nullif(e.event->>'priority', '')
                         WHEN 'reassigned' THEN nullif(e.event->>'toPriority', '')
                         WHEN 'priority_changed' THEN nullif(e.event->>'to', '')
                         WHEN 'resolved' THEN nullif(e.event->>'priority', '') END AS priority_v
      FROM escalation_log AS e
     WHERE e.action IN ('auto_response', 'escalated', 'csat', 'agent_responded', 'resolved',
                        'reassigned', 'priority_changed')
       AND coalesce(e.episode_id, e.event->>'episodeId', 'ticket:' || e.ticket_id) = ANY(keys)
       AND e.happened_at < coalesce(before, 'infinity')
),
eps AS (
    SELECT episode,
           coalesce((array_agg(team_v ORDER BY at DESC, id DESC)
                     FILTER (WHERE team_v IS NOT NULL))[1], 'unknown') AS team,
           coalesce((array_agg(priority_v ORDER BY at DESC, id DESC)
                     FILTER (WHERE priority_v IS NOT NULL))[1], 'unknown') AS priority,
           (array_agg(at ORDER BY at, id) FILTER (WHERE action = 'escalated'))[1] AS esc_at,
           (array_agg(received_at ORDER BY at, id) FILTER (WHERE action = 'escalated'))[1]
             AS received_at,
           (array_agg(ticket_created_at ORDER BY at, id)
             FILTER (WHERE action = 'escalated'))[1] AS created_at,
           (array_agg(event_at ORDER BY at, id) FILTER (WHERE action = 'escalated'))[1]
             AS escalated_at,
           (array_agg(sla_due_at ORDER BY at, id) FILTER (WHERE action = 'escalated'))[1]
             AS sla_due_at,
           (array_agg(at ORDER BY at, id) FILTER (WHERE action = 'resolved'))[1] AS res_at,
           (array_agg(responded_at ORDER BY at, id) FILTER (WHERE action = 'resolved'))[1]
             AS responded_at,
           (array_agg(CASE WHEN jsonb_typeof(event->'escalationNecessary') = 'boolean'
                           THEN (event->>'escalationNecessary')::boolean END ORDER BY at, id)
             FILTER (WHERE action = 'resolved'))[1] AS necessary,
           (array_agg(CASE WHEN jsonb_typeof(event->'pausedSeconds') = 'number'
                                AND pg_input_is_valid(event->>'pausedSeconds', 'float8')
                           THEN (event->>'pausedSeconds')::float8 ELSE 0 END ORDER BY at, id)
             FILTER (WHERE action = 'resolved'))[1] AS paused,
           (array_agg(at ORDER BY at DESC, id DESC)
             FILTER (WHERE action = 'csat' AND jsonb_typeof(event->'score') = 'number'
                       AND event->>'score' ~ '^-?\d{1,9}$'))[1] AS csat_at,
           (array_agg((event->>'score')::int ORDER BY at DESC, id DESC)
             FILTER (WHERE action = 'csat' AND jsonb_typeof(event->'score') = 'number'
                       AND event->>'score' ~ '^-?\d{1,9}$'))[1] AS score,
           max(at) FILTER (WHERE action = 'auto_response') AS auto_at,
           max(at) FILTER (WHERE action = 'reassigned') AS moved_at,
           min(at) FILTER (WHERE action = 'agent_responded' AND metric_truthy(event->'firstResponse'))
             AS fr_at,
           count(*) FILTER (WHERE action = 'agent_responded'
                              AND metric_truthy(event->'firstResponse'))::int AS fr_n,
           min(ticket_id) AS ticket_id, min(at) AS first_at, max(at) AS last_at
      FROM rows GROUP BY episode
)
SELECT episode, team, priority, esc_at,
       CASE WHEN esc_at IS NOT NULL AND received_at IS NOT NULL
            THEN greatest(0::float8, extract(epoch FROM esc_at - received_at)::float8) END,
       CASE WHEN esc_at IS NOT NULL AND created_at IS NOT NULL
            THEN greatest(0::float8, extract(epoch FROM esc_at - created_at)::float8) END,
       res_at,
       CASE WHEN res_at IS NOT NULL THEN necessary END,
       CASE WHEN res_at IS NOT NULL AND escalated_at IS NOT NULL
            THEN greatest(0::float8,
                          extract(epoch FROM res_at - escalated_at)::float8 - paused) END,
       CASE WHEN res_at IS NOT NULL AND sla_due_at IS NOT NULL
            THEN coalesce(responded_at <= sla_due_at, false) END,
       csat_at, score, auto_at, moved_at, fr_at, fr_n, ticket_id, first_at, last_at
  FROM eps
$fn$;

-- Recompute the episodes `keys`: those of a statement's log rows, old or new.
CREATE OR REPLACE FUNCTION metric_episodes_refresh(keys text[]) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    IF keys IS NULL OR cardinality(keys) = 0 THEN
        RETURN;
    END IF;
    -- one writer of an episode at a time (in 1024 lock keys, so that a COPY of many rows in
    -- one transaction never fills the lock table), taken in order (no deadlock)
    PERFORM pg_advisory_xact_lock(1011, h)
       FROM (SELECT DISTINCT hashtext(k) & 1023 AS h FROM unnest(keys) AS k) AS locks
      ORDER BY h;
    -- a new statement, so a new snapshot: what the other writer committed meanwhile is seen
    WITH now_there AS MATERIALIZED (SELECT * FROM metric_episodes_of(keys)),
    gone AS (
        DELETE FROM metric_episodes AS m
         USING unnest(keys) AS k (key)
         WHERE m.episode = k.key
           AND NOT EXISTS (SELECT 1 FROM now_there AS f WHERE f.episode = m.episode)
    )
    INSERT INTO metric_episodes
    SELECT * FROM now_there
    ON CONFLICT (episode) DO UPDATE SET
        team = EXCLUDED.team, priority = EXCLUDED.priority, esc_at = EXCLUDED.esc_at,
        tte = EXCLUDED.tte, created = EXCLUDED.created, res_at = EXCLUDED.res_at,
        necessary = EXCLUDED.necessary, resolution = EXCLUDED.resolution,
        attained = EXCLUDED.attained, csat_at = EXCLUDED.csat_at, score = EXCLUDED.score,
        auto_at = EXCLUDED.auto_at, moved_at = EXCLUDED.moved_at, fr_at = EXCLUDED.fr_at,
        fr_n = EXCLUDED.fr_n, ticket_id = EXCLUDED.ticket_id, first_at = EXCLUDED.first_at,
        last_at = EXCLUDED.last_at
     WHERE (metric_episodes.*) IS DISTINCT FROM (EXCLUDED.*);
END
$$;

CREATE OR REPLACE FUNCTION escalation_log_inserted_metrics() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    keys text[];
BEGIN
    SELECT array_agg(DISTINCT coalesce(episode_id, event->>'episodeId', 'ticket:' || ticket_id))
      INTO keys
      FROM inserted
     WHERE action IN ('auto_response', 'escalated', 'csat', 'agent_responded', 'resolved',
                      'reassigned', 'priority_changed');
    PERFORM metric_episodes_refresh(keys);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION escalation_log_changed_metrics() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    keys text[];
BEGIN
    SELECT array_agg(DISTINCT key)
      INTO keys
      FROM (SELECT coalesce(episode_id, event->>'episodeId', 'ticket:' || ticket_id) AS key
              FROM gone
            UNION ALL
            SELECT coalesce(episode_id, event->>'episodeId', 'ticket:' || ticket_id)
              FROM came) AS both_ways;
    PERFORM metric_episodes_refresh(keys);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION escalation_log_deleted_metrics() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    keys text[];
BEGIN
    SELECT array_agg(DISTINCT coalesce(episode_id, event->>'episodeId', 'ticket:' || ticket_id))
      INTO keys
      FROM gone;
    PERFORM metric_episodes_refresh(keys);
    RETURN NULL;
END
$$;

-- The day rows: an episode's figures out (its old row) and in (its new row).
CREATE OR REPLACE FUNCTION metric_days_delta(m metric_episodes, sign integer) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO metric_days AS d (day, team, priority, escalated, auto, resolved, judged,
                                  necessary, sla_attained, sla_total, rated, satisfied,
                                  first_responses)
    SELECT (at AT TIME ZONE 'UTC')::date, m.team, m.priority, sum(esc) * sign,
           sum(auto) * sign, sum(res) * sign, sum(judged) * sign, sum(nec) * sign,
           sum(att) * sign, sum(sla) * sign, sum(rated) * sign, sum(sat) * sign,
           sum(fr) * sign
      FROM (VALUES
              (m.esc_at, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
              (m.auto_at, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
              (m.res_at, 0, 0, 1, (m.necessary IS NOT NULL)::int, coalesce(m.necessary, false)::int,
               coalesce(m.attained, false)::int, (m.attained IS NOT NULL)::int, 0, 0, 0),
              (m.csat_at, 0, 0, 0, 0, 0, 0, 0, 1, (m.score IN (4, 5))::int, 0),
              (m.fr_at, 0, 0, 0, 0, 0, 0, 0, 0, 0, m.fr_n)
           ) AS f (at, esc, auto, res, judged, nec, att, sla, rated, sat, fr)
     WHERE at IS NOT NULL
     GROUP BY 1
    ON CONFLICT (day, team, priority) DO UPDATE SET
        escalated = d.escalated + EXCLUDED.escalated, auto = d.auto + EXCLUDED.auto,
        resolved = d.resolved + EXCLUDED.resolved, judged = d.judged + EXCLUDED.judged,
        necessary = d.necessary + EXCLUDED.necessary,
        sla_attained = d.sla_attained + EXCLUDED.sla_attained,
        sla_total = d.sla_total + EXCLUDED.sla_total, rated = d.rated + EXCLUDED.rated,
        satisfied = d.satisfied + EXCLUDED.satisfied,
        first_responses = d.first_responses + EXCLUDED.first_responses;
END
$$;

CREATE OR REPLACE FUNCTION metric_episode_counted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM metric_days_delta(OLD, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM metric_days_delta(NEW, 1);
    END IF;
    RETURN NULL;
END
$$;

-- What is there already, computed once: every episode of the log, then their days.
-- (In batches of 5,000 episodes, each read through the episode key's index.)
DO $$
DECLARE
    batch text[];
BEGIN
    FOR batch IN
        SELECT array_agg(key)
          FROM (SELECT key, (row_number() OVER (ORDER BY key) - 1) / 5000 AS chunk
                  FROM (SELECT DISTINCT
                               coalesce(episode_id, event->>'episodeId', 'ticket:' || ticket_id)
                                 AS key
                          FROM escalation_log
                         WHERE action IN ('auto_response', 'escalated', 'csat',
                                          'agent_responded', 'resolved', 'reassigned',
                                          'priority_changed')) AS keys) AS chunks
         GROUP BY chunk
    LOOP
        INSERT INTO metric_episodes SELECT * FROM metric_episodes_of(batch);
    END LOOP;
END
$$;
INSERT INTO metric_days (day, team, priority, escalated, auto, resolved, judged, necessary,
                         sla_attained, sla_total, rated, satisfied, first_responses)
SELECT (f.at AT TIME ZONE 'UTC')::date, m.team, m.priority, sum(f.esc), sum(f.auto),
       sum(f.res), sum(f.judged), sum(f.nec), sum(f.att), sum(f.sla), sum(f.rated),
       sum(f.sat), sum(f.fr)
  FROM metric_episodes AS m
 CROSS JOIN LATERAL (VALUES
        (m.esc_at, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (m.auto_at, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
        (m.res_at, 0, 0, 1, (m.necessary IS NOT NULL)::int, coalesce(m.necessary, false)::int,
         coalesce(m.attained, false)::int, (m.attained IS NOT NULL)::int, 0, 0, 0),
        (m.csat_at, 0, 0, 0, 0, 0, 0, 0, 1, (m.score IN (4, 5))::int, 0),
        (m.fr_at, 0, 0, 0, 0, 0, 0, 0, 0, 0, m.fr_n)
     ) AS f (at, esc, auto, res, judged, nec, att, sla, rated, sat, fr)
 WHERE f.at IS NOT NULL
 GROUP BY 1, 2, 3;

-- From now on, kept as the log is written.
CREATE OR REPLACE TRIGGER metric_episodes_days AFTER INSERT OR UPDATE OR DELETE ON metric_episodes
    FOR EACH ROW EXECUTE FUNCTION metric_episode_counted();
CREATE OR REPLACE TRIGGER escalation_log_metric_inserts AFTER INSERT ON escalation_log
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION escalation_log_inserted_metrics();
CREATE OR REPLACE TRIGGER escalation_log_metric_updates AFTER UPDATE ON escalation_log
    REFERENCING OLD TABLE AS gone NEW TABLE AS came
    FOR EACH STATEMENT EXECUTE FUNCTION escalation_log_changed_metrics();
CREATE OR REPLACE TRIGGER escalation_log_metric_deletes AFTER DELETE ON escalation_log
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION escalation_log_deleted_metrics();
