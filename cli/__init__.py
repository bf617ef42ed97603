"""The command-line interface (Contract 3): `python starter.py VERB ...`.

main.py parses and dispatches; tickets.py holds the verbs that talk to Temporal, triage.py,
metrics.py and knowledge.py the others; agents.py says who the CLI acts as; readable.py
renders answers for people (`--json` prints the data). It never imports worker code.
"""
