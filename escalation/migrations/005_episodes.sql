-- Escalation episodes (issue 12): a ticket may be escalated more than once in its life (the
-- helpdesk reopens it, the customer replies after it was resolved), and each escalation is an
-- episode with its own id (the first run id of its workflow chain, kept across continue-as-new).
-- The assignment and the resolution are one row per episode, not per ticket; log events and
-- notifications carry the episode they belong to. Rows written before this migration are each
-- their ticket's first episode.

ALTER TABLE support_assignments ADD COLUMN IF NOT EXISTS episode_id text;
ALTER TABLE support_assignments ADD COLUMN IF NOT EXISTS episode_number integer NOT NULL DEFAULT 1;
ALTER TABLE support_assignments ADD COLUMN IF NOT EXISTS previous_episode_id text;
ALTER TABLE support_assignments ADD COLUMN IF NOT EXISTS reopened_because text;
-- Step 5 runs alongside the assignment: NULL while the acknowledgement is on its way.
ALTER TABLE support_assignments ADD COLUMN IF NOT EXISTS customer_notified boolean;
ALTER TABLE support_assignments ADD COLUMN IF NOT EXISTS customer_notice text;
ALTER TABLE support_assignments ADD COLUMN IF NOT EXISTS resolved_at timestamptz;
ALTER TABLE support_assignments ADD COLUMN IF NOT EXISTS resolution text;
ALTER TABLE support_assignments ADD COLUMN IF NOT EXISTS paused boolean NOT NULL DEFAULT false;
UPDATE support_assignments SET episode_id = 'legacy:' || ticket_id WHERE episode_id IS NULL;
ALTER TABLE support_assignments ALTER COLUMN episode_id SET NOT NULL;
ALTER TABLE support_assignments DROP CONSTRAINT IF EXISTS support_assignments_pkey;
ALTER TABLE support_assignments ADD PRIMARY KEY (episode_id);
CREATE INDEX IF NOT EXISTS support_assignments_by_ticket
    ON support_assignments (ticket_id, escalated_at DESC);

ALTER TABLE resolutions ADD COLUMN IF NOT EXISTS episode_id text;
UPDATE resolutions SET episode_id = 'legacy:' || ticket_id WHERE episode_id IS NULL;
ALTER TABLE resolutions ALTER COLUMN episode_id SET NOT NULL;
ALTER TABLE resolutions DROP CONSTRAINT IF EXISTS resolutions_pkey;
ALTER TABLE resolutions ADD PRIMARY KEY (episode_id);
CREATE INDEX IF NOT EXISTS resolutions_by_ticket ON resolutions (ticket_id, resolved_at);

ALTER TABLE escalation_log ADD COLUMN IF NOT EXISTS episode_id text;
CREATE INDEX IF NOT EXISTS escalation_log_by_episode ON escalation_log (episode_id, id)
    WHERE episode_id IS NOT NULL;

