"""ERP connectors: one module per ERP, each behind `base.Connector`."""
