"""Order actions: refund, cancel, change the shipping address, resend a notification, create a
discount code — through the connected Shopify store, each a row before it is an API call.

- facts.py: what the synced order (Shopify's webhook payload, kept on Order.raw) tells us;
- stores.py: connecting the store and its refund limits;
- actions.py: `order_action(...)`, the one entry point (API views, macros): checks, the plan
  the confirmation states, the row, the audit and timeline entries;
- run.py: the task's side: calls Shopify once per row, reads refunds back after a lost answer;
- reconcile.py: Shopify's later webhooks confirm the row instead of duplicating it;
- selectors.py: what the customer panel may offer for a customer's orders.
"""
