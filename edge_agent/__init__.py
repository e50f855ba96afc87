"""The store's edge agent: captures till transactions durably and forwards them to the hub."""

__version__ = "0.1.0"
