"""The hub's storage port on PostgreSQL (psycopg 3): connections, writer, schema, database."""
