-- Issue 13, item 5: learned auto-responses are approved by a second person, tied to the text
-- they reviewed, editable before approval and revocable after (web/knowledge.py). (Roles and
-- teams live in the agents file, not here.)
--
-- `approved_sha256`: SHA-256 of the text reviewed (web.knowledge.reviewed_text: title, KB
-- article and auto-response), kept with the approval; triage uses an approved pattern only while
-- its text still has this hash. `edited_*`: the last edit of a draft's text (its editor cannot
-- approve it). `revoked_*`: the last revocation (an approved pattern back to `draft`, out of
-- triage at once).
ALTER TABLE kb_patterns
    ADD COLUMN IF NOT EXISTS approved_sha256 text,
    ADD COLUMN IF NOT EXISTS edited_by       text,
    ADD COLUMN IF NOT EXISTS edited_at       timestamptz,
    ADD COLUMN IF NOT EXISTS revoked_by      text,
    ADD COLUMN IF NOT EXISTS revoked_at      timestamptz,
    ADD COLUMN IF NOT EXISTS revoke_reason   text;
