-- Mike's account and history, so that Step 1 gathers the seed's example from the database.
-- Idempotent: `make demo` runs it every time.
INSERT INTO customers (user_id, email, name, account_status, account_created,
                       total_galleries, total_photos, last_login)
VALUES ('user_abc123', 'mike@email.com', 'Mike', 'premium', '2024-05-07T09:00:00Z',
        15, 2500, '2024-11-07T10:00:00Z')
ON CONFLICT (user_id) DO NOTHING;

INSERT INTO tickets (ticket_id, user_id, customer_email, subject, category, urgency,
                     created_at, resolved_at, resolution, status)
VALUES
  ('T-10412', 'user_abc123', 'mike@email.com', 'How do I share a gallery with my family?',
   'how_to', 'low', '2024-08-20T09:00:00Z', '2024-08-20T11:00:00Z',
   'Resolved - sent sharing guide', 'resolved'),
  ('T-11877', 'user_abc123', 'mike@email.com', 'Cannot log in', 'account_access', 'medium',
   '2024-10-15T08:00:00Z', '2024-10-15T10:00:00Z', 'Resolved - password reset', 'resolved')
ON CONFLICT (ticket_id) DO NOTHING;

INSERT INTO upload_events (user_id, attempted_at, status, error_code, browser_info,
                           file_size_bytes, file_count)
SELECT v.user_id, v.attempted_at::timestamptz, v.status, v.error_code, v.browser_info,
       v.file_size_bytes, v.file_count
FROM (VALUES
  ('user_abc123', '2024-11-05T13:10:00Z', 'succeeded', NULL, 'Chrome 119, Windows 11',
   52428800::bigint, 30),
  ('user_abc123', '2024-11-07T14:25:00Z', 'failed', 'ERR_UPLOAD_TIMEOUT',
   'Chrome 119, Windows 11', 157286400::bigint, 87)
) AS v(user_id, attempted_at, status, error_code, browser_info, file_size_bytes, file_count)
WHERE NOT EXISTS (
  SELECT 1 FROM upload_events e WHERE e.user_id = v.user_id
     AND e.attempted_at = v.attempted_at::timestamptz);
