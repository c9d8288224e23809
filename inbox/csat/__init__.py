"""Satisfaction surveys (CSAT): sent when a conversation is resolved, answered on the same channel.

config.py (the per-inbox settings), schedule.py (a survey due when a conversation is resolved),
surveys.py (the dispatcher that sends due surveys under each channel's rules), answers.py (the
customer's rating and comment, from a reply or a signed email link), reports.py (scores and rates).
"""
