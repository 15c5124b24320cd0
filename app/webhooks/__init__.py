"""Webhooks (DESIGN.md §12): endpoints, the events outbox written in the same transaction as the change,
Standard Webhooks signing, and the delivery worker. Beside app.services, above app.chain."""
