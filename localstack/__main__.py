"""`python -m localstack`: run PostgreSQL, Temporal and the SMTP sink until Ctrl-C."""

from localstack.stack import main

raise SystemExit(main())
