"""The central hub: exactly-once event log per store, inventory, day totals, fleet state."""

__version__ = "0.1.0"
