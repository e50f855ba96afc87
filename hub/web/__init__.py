"""The hub's HTTP side: the API, the operations dashboard, health and metrics."""
