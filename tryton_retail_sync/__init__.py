"""`retail_sync`: a small Tryton module that makes the hub's postings idempotent in Tryton.

The stock `sale.point.sale` has no writable external reference; this adds `reference` (the hub's
posting_id), unique per company, so the hub can look a posting up before creating it and resume
a half-done one. Installed as the Tryton module `retail_sync` through the `trytond.modules`
entry point. `database` builds a ready-to-use demo/test database; `server` runs trytond.
"""
