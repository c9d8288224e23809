"""Automation rules (issue 20): when (a trigger) — if (conditions) — then (actions), in order.

- schema.py      what a rule may say; refused at save with {code, detail} when it cannot work
- matching.py    text conditions with bounded cost (substrings, whole words, `*`/`?` wildcards)
- conditions.py  the facts of a conversation at an event, read lazily once
- actions.py     what rules do, through the agents' own services, as the system
- engine.py      running the rules of an event: once each, loops cut, first change wins, logged
- timers.py      the time-based triggers, from one periodic dispatcher (beat: inbox-rules-dispatch)
- defaults.py    the default rules (reopen on a customer message, wake snoozed, resolve after silence)
- services.py    saving rules
"""
