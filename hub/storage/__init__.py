"""The only code that knows the hub database's SQL dialect and driver."""
