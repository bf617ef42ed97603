"""Activities: every I/O step of the escalation (PostgreSQL, email, rendering, webhooks)."""
