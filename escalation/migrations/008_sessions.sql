-- Issue 13: webhook deliveries that keep their first answer.

-- A webhook delivery's first successful answer (web/guards.py): the sender's retry of the same
-- `webhook-id` is answered 200 with it instead of acting again. The request it answered
-- (path, body hash) is kept so the id cannot be re-posted with another request.
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS request_path text;
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS body_sha256 text;
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS status integer;
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS answer text;
