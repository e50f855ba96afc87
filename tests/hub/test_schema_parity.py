"""The hub's two schemas stay twins: every SQLite migration (hub/storage/schema.py) has its
PostgreSQL counterpart at the same place (hub/storage/postgres/schema.py), and the two lists
build the same tables, columns, keys and indexes."""

import sqlite3

from hub.storage import schema
from hub.storage.postgres import schema as pg_schema
from hub.storage.postgres.connection import PgConnection, Target
from runtime.sqlite_writer import connect

Shape = dict[str, object]


def test_every_migration_has_its_postgresql_twin():
    assert len(pg_schema.MIGRATIONS) == len(schema.MIGRATIONS), (
        "a migration was added to one backend only: add its twin at the same place in "
        "hub/storage/schema.py and hub/storage/postgres/schema.py")


def sqlite_shape(conn: sqlite3.Connection) -> Shape:
    shape: Shape = {}
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    for t in tables:
        info = conn.execute(f"PRAGMA table_info({t})").fetchall()
        shape[f"{t} columns"] = sorted((r[1], bool(r[3]) or r[5] > 0) for r in info)
        shape[f"{t} key"] = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]]
        uniques, indexes = [], {}
        for _, name, unique, origin, _partial in conn.execute(f"PRAGMA index_list({t})"):
            cols = [r[2] for r in conn.execute(f"PRAGMA index_info({name})")]
            if origin == "u":
                uniques.append(cols)
            elif origin == "c":
                indexes[name] = cols
        shape[f"{t} unique"] = sorted(uniques)
        shape[f"{t} indexes"] = indexes
    shape["tables"] = sorted(tables)
    return shape


def pg_shape(conn: PgConnection) -> Shape:
    shape: Shape = {}
    tables = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        " AND table_name <> ?", (pg_schema.VERSION_TABLE,))]
    for t in tables:
        shape[f"{t} columns"] = sorted((r[0], r[1] == "NO") for r in conn.execute(
            "SELECT column_name, is_nullable FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?", (t,)))
        constraints = conn.execute(
            "SELECT c.contype, array_agg(a.attname ORDER BY k.n)"
            " FROM pg_constraint c, unnest(c.conkey) WITH ORDINALITY AS k(attnum, n), pg_attribute a"
            " WHERE c.conrelid = ?::regclass AND a.attrelid = c.conrelid AND a.attnum = k.attnum"
            " AND c.contype IN ('p', 'u') GROUP BY c.oid, c.contype", (t,)).fetchall()
        shape[f"{t} key"] = next((list(cols) for kind, cols in constraints if kind == "p"), [])
        shape[f"{t} unique"] = sorted(list(cols) for kind, cols in constraints if kind == "u")
        shape[f"{t} indexes"] = {r[0]: list(r[1]) for r in conn.execute(
            "SELECT i.relname, array_agg(a.attname ORDER BY k.n)"
            " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid,"
            " unnest(x.indkey) WITH ORDINALITY AS k(attnum, n), pg_attribute a"
            " WHERE x.indrelid = ?::regclass AND a.attrelid = x.indrelid AND a.attnum = k.attnum"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
            " GROUP BY i.relname", (t,))}
    shape["tables"] = sorted(tables)
    return shape


def test_both_schemas_build_the_same_tables_columns_keys_and_indexes(tmp_path, pg_server):
    lite = connect(tmp_path / "hub.sqlite")
    schema.migrate(lite)
    name = pg_server.create_database(migrated=False)
    pg = PgConnection(Target(pg_server.url(name)))
    pg.ensure()
    try:
        assert pg_schema.migrate(pg) == (0, len(pg_schema.MIGRATIONS))
        assert pg_schema.migrate(pg) == (len(pg_schema.MIGRATIONS),) * 2
        assert pg_shape(pg) == sqlite_shape(lite)
    finally:
        pg.close()
        pg_server.drop_database(name)
