"""SLA policies (issue 20): targets for first response, next response and resolution, the live
clocks of each conversation, warnings and breaches told once, and the achievement report.

- policies.py  which policy applies (the most specific match, or a rule's choice); saving one
- clocks.py    the clocks of a conversation, derived from its messages and status history (live,
               on every event, and in a rebuild alike: one function)
- state.py     the `sla` object of a conversation in the API and in realtime frames
- alerts.py    the one periodic dispatcher of warnings and breaches (beat: inbox-sla-dispatch)
- reports.py   achievement per target by agent, team, channel and period; the rebuild
- hooks.py     the receiver of inbox.signals.conversation_changed
"""
