"""`python starter.py` — the CLI for the ticketing system, agents and ops (Contract 3,
docs/contracts/cli.md). The verbs live in cli/; this file only runs them.

  decide FILE|-         the triage decision (Contract 2); starts nothing
  start FILE|-          start the ticket's escalation and show its Temporal UI link: finds the
                        run while it runs; a ticket whose escalation has finished starts a new
                        episode ("reopened")
  status TICKET_ID      the latest episode's status, with its earlier episodes
  reply TICKET_ID TEXT  forward a customer reply (signal); within the policy's reopen_within of
                        the resolution it reopens the ticket as a new episode, after it exits 2
  satisfaction TICKET_ID SCORE [--comment C]
  respond TICKET_ID [--agent A] [--note N]            first human response
  wait-customer TICKET_ID [--agent A] [--question Q]  pause until the customer replies
  reassign TICKET_ID [TEAM] [--priority P] [--reason R] [--agent A]
                        another team and/or priority (recorded as a correction of triage)
  resolve TICKET_ID [--agent A] --resolution TEXT (--necessary | --unnecessary)
                        "was this escalation necessary?" is asked on a terminal when neither
                        is given, and refused (exit 2) without one otherwise
  metrics [--since 30d]            the seed's escalation metrics, each with its target
  kb list [--status S] | kb show ID | kb approve ID | kb reject ID | kb revoke ID [--reason R]
  kb edit ID [--title T] [--article-file F|-] [--answer-file F|-]
                        learned patterns: KB drafts and auto-response candidates to approve
                        (each kb verb acts as --agent A: the patterns of A's teams only)
  triage eval FILE.jsonl           score triage on labelled cases (triage-dev format)
  triage corrections --export FILE.jsonl   agents' corrections of triage, as labelled cases

Every verb answers in readable lines by default and as JSON with `--json` (what a program
reads: Contract 2 for `decide`, the status query's answer for `status` and the agent actions).

Agent actions are workflow updates: the workflow's answer (its status) is printed, and a
request it rejects (already resolved, unknown team, score outside 1-5) exits 2 with the reason.
They act as a configured agent: `respond`, `wait-customer`, `reassign`, `resolve` and
every `kb` verb need the agents file (ESCALATION_AGENTS, as the web app reads it) and an
agent of it, named by --agent (or $ESCALATION_AGENT) or proven by their token in
$ESCALATION_AGENT_TOKEN. The agent's role and team apply as on the web: another team's ticket
exits 2.

Exit codes: 0 success, 2 invalid input (the reason on stderr), 1 anything else.
"""

from cli.main import run_as_script

if __name__ == "__main__":
    run_as_script()
