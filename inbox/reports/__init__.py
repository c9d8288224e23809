"""Managers' reports beside the badge: volume, first-response and resolution times, contact reasons,
SLA achievement, CSAT, per agent and per team, and support-influenced revenue.

- scope.py    who asks for what: the period and the one before it, the inboxes and teams they may see
- builders.py one function per report, all of the same shape (figures with their previous value and a
              sentence each, charts, a table whose rows may drill down to their conversations)
- volume.py   per-day counts of new conversations and messages, kept for closed days (the rollup)
- digest.py   the weekly digest email to the managers who asked for it (one beat dispatcher)

Read through `/api/v1/reports/<name>/` (and `.csv`), shown at `/reports/<name>/`.
"""
