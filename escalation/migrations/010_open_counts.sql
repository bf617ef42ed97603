-- Scale (issue 13, item 6): the `escalations_open` gauge kept as the assignments are written,
-- so a `/metrics` scrape no longer counts every open episode with an anti-join per row.
--
-- `open_tickets`: each ticket's contribution to the gauge, what web/prometheus.py's reference
-- query (_OPEN_REFERENCE) counts for it: its latest episodes (no later escalated_at) that are
-- not resolved, by the team and priority holding them (n: how many; ties on escalated_at count
-- each). A row trigger on support_assignments recomputes the ticket's contribution after every
-- insert, update of a counted column, or delete (one index read: support_assignments_by_ticket),
-- replaces its open_tickets rows, and appends the difference to metric_counts (migration 007's
-- delta rows, metric 'open', n +1/-1), which a scrape folds and sums as it does the counters.
CREATE TABLE IF NOT EXISTS open_tickets (
    ticket_id text NOT NULL,
    team      text NOT NULL,
    priority  text NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (ticket_id, team, priority)
);

-- The ticket's contribution now, as web/prometheus.py's reference query counts it.
CREATE OR REPLACE FUNCTION open_ticket_now(ticket text)
    RETURNS TABLE (team text, priority text, n bigint)
    LANGUAGE sql STABLE AS $$
    SELECT assigned_to_team, sa.priority, count(*)
      FROM support_assignments AS sa
     WHERE sa.ticket_id = ticket AND state <> 'resolved'
       AND NOT EXISTS (SELECT 1 FROM support_assignments AS later
                        WHERE later.ticket_id = sa.ticket_id
                          AND later.escalated_at > sa.escalated_at)
     GROUP BY 1, 2
$$;

CREATE OR REPLACE FUNCTION open_ticket_recount(ticket text) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    changed bigint;
BEGIN
    -- one writer per ticket at a time (two transactions moving the same ticket would each
    -- read the other's old contribution otherwise); 1024 lock keys at most, so a COPY of many
    -- rows in one transaction never fills the lock table
    PERFORM pg_advisory_xact_lock(1013, hashtext(ticket) & 1023);
    INSERT INTO metric_counts (metric, team, priority, n)
    SELECT 'open', team, priority, sum(n)
      FROM (SELECT team, priority, -n AS n FROM open_tickets WHERE ticket_id = ticket
            UNION ALL
            SELECT team, priority, n FROM open_ticket_now(ticket)) AS both_ways
     GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
    GET DIAGNOSTICS changed = ROW_COUNT;
    IF changed > 0 THEN  -- an update that moves nothing (a state change while open) writes none
        DELETE FROM open_tickets WHERE ticket_id = ticket;
        INSERT INTO open_tickets (ticket_id, team, priority, n)
        SELECT ticket, team, priority, n FROM open_ticket_now(ticket);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION support_assignment_open_counted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM open_ticket_recount(OLD.ticket_id);
    END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.ticket_id IS DISTINCT FROM OLD.ticket_id)
    THEN
        PERFORM open_ticket_recount(NEW.ticket_id);
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS support_assignments_open_counts ON support_assignments;
CREATE TRIGGER support_assignments_open_counts
    AFTER INSERT OR DELETE OR UPDATE OF ticket_id, state, assigned_to_team, priority, escalated_at
    ON support_assignments
    FOR EACH ROW EXECUTE FUNCTION support_assignment_open_counted();

-- What is open now, counted once (the migration may run on a database with data).
INSERT INTO open_tickets (ticket_id, team, priority, n)
SELECT ticket_id, assigned_to_team, priority, count(*)
  FROM support_assignments AS sa
 WHERE state <> 'resolved'
   AND NOT EXISTS (SELECT 1 FROM support_assignments AS later
                    WHERE later.ticket_id = sa.ticket_id
                      AND later.escalated_at > sa.escalated_at)
 GROUP BY 1, 2, 3;
INSERT INTO metric_counts (metric, team, priority, n)
SELECT 'open', team, priority, sum(n) FROM open_tickets GROUP BY 1, 2, 3;
