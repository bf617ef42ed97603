"""`make bench`: the real service (workflow, activities, PostgreSQL, SMTP sink) measured on the
embedded stack, with Temporal's own floor measured in the same run. Prints one JSON document.

Run `python -m bench` (full size, ~10 minutes on two cores) or `python -m bench --smoke`.
"""
