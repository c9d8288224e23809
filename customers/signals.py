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

- `order_delivered(order, refunds)`: sent inside the transaction of a Shopify webhook about an
  order we hold (orders/*, refunds/create), once it is recorded: the order as it now stands and
  the refunds the delivery listed (RefundData, with their notes), new or already held. The inbox
  recognises in them the refunds, cancellations and address changes it asked Shopify for.

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
order_delivered = Signal()
