-- Webhook ids already accepted (web/auth.py remember_delivery): a signed request replayed
-- inside the 5-minute timestamp window is dropped instead of acted on twice. Rows older than
-- twice the window protect against nothing and may be deleted (web/auth.py forget_deliveries).
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    webhook_id   text PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_age ON webhook_deliveries (received_at);
