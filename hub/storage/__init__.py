"""The only code that knows the hub database's SQL dialect and driver: the storage port."""

from hub.storage.database import Database, Lane, Reads, Transaction, reading, transact

__all__ = ["Database", "Lane", "Reads", "Transaction", "reading", "transact"]
