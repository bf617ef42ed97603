-- Delivery as it really is (issue 12): no transaction is held open across the SMTP or HTTP call
-- any more. An attempt claims the row in one short statement ('sending', who, when), sends with
-- no connection held, then records the outcome in another: 'sent', back to 'pending' with the
-- error (retryable), or 'refused' (the relay or the endpoint refused it for good).
--   pending  nothing sent yet, or the last attempt failed and may be retried (last_error)
--   sending  an attempt claimed it at claimed_at (claimed_by, claim_attempt) and is sending
--   sent     the channel accepted it at sent_at
--   refused  permanently refused (last_error: the reply); not retried for the same recipient
-- See activities/delivery.py for what is guaranteed.

ALTER TABLE notifications ADD COLUMN IF NOT EXISTS claimed_at timestamptz;
-- The activity execution ('<workflow run id>/<activity id>') or the process that claimed it.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS claimed_by text;
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS claim_attempt integer;

ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_status_known;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_known
    CHECK (status IN ('pending', 'sending', 'sent', 'refused'));
