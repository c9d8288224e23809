"""Macros: a named list of actions (reply, note, labels, assign, status, attach a file, an order
action) an agent applies to a conversation in one go, previewed first, all or nothing.

actions.py (each action: cleaned when saved, checked and described before it runs, then run),
context.py (the variables a reply or note may use), services.py (who sees and changes which
macro; preview and apply), files.py (the stored files an `attach` action sends).
"""
