"""Hooks other apps connect to. The customers app never imports them: they register here.

- `customer_event(event)`: a CustomerEvent was published; sent after the transaction commits
  (campaigns trigger on it).
- `customer_merged(kept, merged, by, record)`: sent inside the merge transaction, after every row
  pointing at `merged` was moved to `kept`; a receiver may move what the generic walk could not.
- `customer_erasing(customer, by)`: sent inside the erase transaction, before the customers app
  erases its own rows; each app redacts the personal data it holds (inbox: message text).
- `customer_exporting(customer, by)`: each receiver returns `{section_name: json_ready_data}` for the
  privacy export. A section named after a model label ("inbox.conversation") replaces the plain
  rows the generic walk found for that model.

`by` is the user who asked (None when the system does it). Receivers apply their own app's
boundaries for that user: the inbox exports only the conversations `by` may see, and refuses (by
raising, which rolls the erasure back) an erasure touching conversations `by` may not see unless
`by` is an admin.
"""

from django.dispatch import Signal

customer_event = Signal()
customer_merged = Signal()
customer_erasing = Signal()
customer_exporting = Signal()
