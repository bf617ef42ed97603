-- Issue 13: dashboard sessions held by the server, sign-in throttling, and webhook deliveries
-- that keep their first answer.

-- A signed-in browser (web/sessions.py). The cookie holds a random session id; only its SHA-256
-- is stored, so a leaked table signs nobody in. `token_sha256` is the hash of the agent token
-- the session was opened with: when the agents file gives the agent another token (rotation),
-- the session no longer matches and is deleted. Logout deletes the row.
CREATE TABLE IF NOT EXISTS agent_sessions (
    id_sha256     text PRIMARY KEY,
    agent         text NOT NULL,
    token_sha256  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_sessions_by_expiry ON agent_sessions (expires_at);
CREATE INDEX IF NOT EXISTS agent_sessions_by_agent ON agent_sessions (agent);

-- Failed sign-ins, counted per client address and per agent name over a window
-- (web/sessions.py SignInThrottle); rows older than the window are deleted.
CREATE TABLE IF NOT EXISTS sign_in_failures (
    scope      text NOT NULL CHECK (scope IN ('address', 'agent')),
    key        text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sign_in_failures_by_key ON sign_in_failures (scope, key, failed_at);
CREATE INDEX IF NOT EXISTS sign_in_failures_by_age ON sign_in_failures (failed_at);

-- A webhook delivery's first successful answer (web/guards.py): the sender's retry of the same
-- `webhook-id` is answered 200 with it instead of acting again. The request it answered
-- (path, body hash) is kept so the id cannot be re-posted with another request.
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS request_path text;
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS body_sha256 text;
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS status integer;
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS answer text;
