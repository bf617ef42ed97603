"""The escalation domain: contracts, policy, triage, quality checks. Pure: no I/O."""
