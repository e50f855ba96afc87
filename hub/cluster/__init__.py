"""Several hub workers on one PostgreSQL database and one broker, as one hub (docs/scale-out.md):
which worker leads the work that runs once per cluster (`leadership`), each worker's heartbeat
row and the workers as the dashboard shows them (`workers`), and the ERP connector kept open
across leadership terms (`connector`)."""
