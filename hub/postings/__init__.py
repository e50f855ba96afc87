"""ERP postings: the outbox towards the ERP, payloads, governance, relay, reconciliation."""
