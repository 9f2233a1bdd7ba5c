"""Webhooks (SPEC §14): endpoints, the outbox, signed deliveries retried for a day and more.

- `outbox.record(writer, type, ids)` is called by the services whose change an event
  reports, in the same transaction: it appends the event and its deliveries.
- `endpoints` registers endpoints (URL rules, secrets, rotation).
- `deliveries` lists and redelivers, and is what the delivery worker (workers/webhooks.py)
  claims and settles.
- `signing` is the Standard Webhooks scheme.
"""

EVENT_TYPES = (
    "ACCOUNT_METRICS_UPDATED", "ORDER_CREATED", "SUBSCRIPTION_CREATED", "SUBSCRIPTION_CANCELLED",
    "INVOICE_POSTED", "INVOICE_CANCELED", "PAYMENT_CREATED", "PAYMENT_APPLIED",
    "PAYMENT_REFUNDED", "CREDIT_MEMO_POSTED", "DEBIT_MEMO_POSTED", "BILL_RUN_COMPLETED",
    "BILL_RUN_FAILED",
)
