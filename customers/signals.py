"""Hooks other apps connect to. The customers app never imports them: they register here.

- `customer_event(event)`: a CustomerEvent was published; sent after the transaction commits
  (campaigns trigger on it).
- `customer_merged(kept, merged, by, record)`: sent inside the merge transaction, after every row
  pointing at `merged` was moved to `kept`; a receiver may move what the generic walk could not.
- `customer_erasing(customer, by)`: sent inside the erase transaction, before the customers app
  erases its own rows; each app redacts the personal data it holds (inbox: message text).
- `customer_exporting(customer)`: each receiver returns `{section_name: json_ready_data}` for the
  privacy export. A section named after a model label ("inbox.conversation") replaces the plain
  rows the generic walk found for that model.
"""

from django.dispatch import Signal

customer_event = Signal()
customer_merged = Signal()
customer_erasing = Signal()
customer_exporting = Signal()
