import asyncio
import sqlite3

import pytest

from runtime.sqlite_writer import SQLiteWriter, WriterClosed


def setup(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")


async def test_concurrent_jobs_share_commits_and_all_land(tmp_path):
    w = SQLiteWriter(tmp_path / "db.sqlite", setup)
    await w.start()
    n = 2000

    def insert(i):
        return lambda conn: conn.execute("INSERT INTO t VALUES (?, ?)", (i, "x")).lastrowid

    results = await asyncio.gather(*(w.run(insert(i)) for i in range(n)))
    assert sorted(results) == list(range(n))
    assert w.jobs_committed == n
    assert w.commits < n / 4, "group commit should fold many jobs into one transaction"
    await w.close()
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == n
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_failing_job_is_rolled_back_alone(tmp_path):
    w = SQLiteWriter(tmp_path / "db.sqlite", setup)
    await w.start()

    def bad(conn):
        conn.execute("INSERT INTO t VALUES (100, 'half')")
        raise ValueError("nope")

    good = [w.submit(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, 'ok')", (i,))) for i in range(5)]
    failing = w.submit(bad)
    await asyncio.gather(*good)
    with pytest.raises(ValueError):
        await failing
    rows = await w.run(lambda c: c.execute("SELECT k FROM t ORDER BY k").fetchall())
    assert [r[0] for r in rows] == [0, 1, 2, 3, 4]
    await w.close()
    with pytest.raises(WriterClosed):
        await w.run(lambda c: None)


async def test_setup_failure_is_raised_by_start(tmp_path):
    def broken(conn):
        raise RuntimeError("schema too new")

    with pytest.raises(RuntimeError, match="schema too new"):
        await SQLiteWriter(tmp_path / "db.sqlite", broken).start()


async def test_a_job_that_is_not_a_function_fails_its_caller_instead_of_hanging(tmp_path):
    w = SQLiteWriter(tmp_path / "db.sqlite", setup)
    await w.start()
    with pytest.raises(TypeError):
        await asyncio.wait_for(w.run("not callable"), 5)  # type: ignore[arg-type]
    assert await w.run(lambda c: 1) == 1  # and the writer goes on
    await w.close()
