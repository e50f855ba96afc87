"""What both services run on: the SQLite group-commit writer, config loading, backoff, logging.

Imports only the standard library and third-party packages, never `edge_agent` or `hub`.
"""
