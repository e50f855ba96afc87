"""The hub database's schema history: forward migrations tracked with PRAGMA user_version.

Each table's queries live in this package's repository for it: `eventlog` (streams, events,
duplicate_events, held_events), `quarantine`, `inventory`, `days` (day_totals, day_tenders, day_closes),
`fleet` (stores), `postings` (postings, posting_sources, posting_attempts, summary_days),
`audit` (posting_audit), `reconciliations`, `availability` (safety_stock, location_adjustments,
availability_changes, feed_compaction, webhook_cursors, channel_freshness), `reservations`
(reservations, reservation_lines, reservation_sales), `catalog` (items, store_groups,
store_group_members, price_books, price_book_stores, price_book_groups, price_change_sets,
price_changes), `publications` (catalog_versions, catalog_items, catalog_prices, publications,
publication_targets, catalog_stores), `store_catalogs` (catalog_stores as the stores report
them, price_deviations, price_lines), `workers` (the hub workers sharing the
database).

Every migration here has its PostgreSQL twin at the same place in
`hub.storage.postgres.schema.MIGRATIONS`: adding migration n means adding it to both lists
(tests/hub/test_schema_parity.py fails while the lists differ in length or in what they build).
"""

import sqlite3

from runtime.migrations import UserVersion, run

MIGRATIONS: list[str] = [
    # 1: the core pipeline.
    """
    CREATE TABLE streams (
        store_id TEXT NOT NULL,
        stream TEXT NOT NULL,
        applied_seq INTEGER NOT NULL DEFAULT 0,
        events_applied INTEGER NOT NULL DEFAULT 0,
        first_seen TEXT NOT NULL,
        last_applied_at TEXT,
        PRIMARY KEY (store_id, stream)
    );
    CREATE TABLE events (
        store_id TEXT NOT NULL,
        stream TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        business_day TEXT NOT NULL,
        register_id TEXT,
        pos_txn_id TEXT,
        occurred_at TEXT NOT NULL,
        captured_at TEXT NOT NULL,
        applied_at TEXT NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (store_id, stream, seq)
    );
    CREATE INDEX events_by_day ON events (store_id, business_day);
    CREATE TABLE duplicate_events (
        store_id TEXT NOT NULL,
        stream TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (store_id, stream, seq)
    );
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        topic TEXT NOT NULL,
        store_id TEXT,
        reason TEXT NOT NULL,
        payload BLOB NOT NULL
    );
    CREATE TABLE inventory (
        store_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        on_hand INTEGER NOT NULL DEFAULT 0,
        reserved INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (sku, store_id)
    );
    CREATE TABLE day_totals (
        store_id TEXT NOT NULL,
        business_day TEXT NOT NULL,
        currency TEXT NOT NULL,
        sales_count INTEGER NOT NULL DEFAULT 0,
        returns_count INTEGER NOT NULL DEFAULT 0,
        net_total TEXT NOT NULL DEFAULT '0',
        tax_total TEXT NOT NULL DEFAULT '0',
        gross_total TEXT NOT NULL DEFAULT '0',
        PRIMARY KEY (store_id, business_day, currency)
    );
    CREATE TABLE day_tenders (
        store_id TEXT NOT NULL,
        business_day TEXT NOT NULL,
        currency TEXT NOT NULL,
        method TEXT NOT NULL,
        amount TEXT NOT NULL,
        PRIMARY KEY (store_id, business_day, currency, method)
    );
    CREATE TABLE day_closes (
        store_id TEXT NOT NULL,
        business_day TEXT NOT NULL,
        register_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        currency TEXT,
        sales_count INTEGER NOT NULL,
        returns_count INTEGER NOT NULL,
        net_total TEXT NOT NULL,
        tax_total TEXT NOT NULL,
        tenders TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (store_id, business_day, register_id)
    );
    CREATE TABLE stores (
        store_id TEXT PRIMARY KEY,
        online INTEGER NOT NULL DEFAULT 0,
        last_seen TEXT,
        state_at TEXT,
        version TEXT,
        backlog INTEGER,
        stream TEXT
    );
    """,
    # 2: governed ERP postings (a transactional outbox towards the ERP) and reconciliation.
    """
    CREATE TABLE postings (
        posting_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        store_id TEXT NOT NULL,
        business_day TEXT NOT NULL,
        currency TEXT,
        state TEXT NOT NULL,
        priority INTEGER NOT NULL,
        payload TEXT NOT NULL,
        reason TEXT,
        erp_ref TEXT,
        erp_answer TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        posted_at TEXT
    );
    CREATE INDEX postings_due ON postings (state, priority, next_attempt_at);
    CREATE INDEX postings_by_day ON postings (store_id, business_day);
    CREATE TABLE posting_sources (
        event_id TEXT PRIMARY KEY,
        posting_id TEXT NOT NULL REFERENCES postings (posting_id),
        register_id TEXT,
        pos_txn_id TEXT
    );
    CREATE INDEX posting_sources_by_posting ON posting_sources (posting_id);
    CREATE TABLE posting_attempts (
        posting_id TEXT NOT NULL REFERENCES postings (posting_id),
        attempt INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        request_digest TEXT NOT NULL,
        status INTEGER,
        outcome TEXT NOT NULL,
        answer TEXT,
        latency_ms INTEGER NOT NULL,
        PRIMARY KEY (posting_id, attempt)
    );
    CREATE TABLE posting_audit (
        id INTEGER PRIMARY KEY,
        posting_id TEXT NOT NULL REFERENCES postings (posting_id),
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        before TEXT,
        after TEXT
    );
    CREATE TABLE summary_days (
        store_id TEXT NOT NULL,
        business_day TEXT NOT NULL,
        pending INTEGER NOT NULL DEFAULT 0,
        released_at TEXT,
        parts INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (store_id, business_day)
    );
    CREATE TABLE reconciliations (
        store_id TEXT NOT NULL,
        business_day TEXT NOT NULL,
        status TEXT NOT NULL,
        report TEXT NOT NULL,
        checked_at TEXT NOT NULL,
        PRIMARY KEY (store_id, business_day)
    );
    """,
    # 3: a posting of one transaction names its event in its own row; posting_sources is kept
    # for daily summaries (many events each). One random-key index less per applied sale.
    """
    ALTER TABLE postings ADD COLUMN event_id TEXT;
    """,
    # 4: the postings listing is newest first and paged by (created_at, posting_id): without an
    # index each page sorted the whole table (450 ms at 200,000 postings; 2 ms with it).
    # created_at only grows, so the index is appended to, not written at random.
    """
    CREATE INDEX postings_newest ON postings (created_at, posting_id);
    """,
    # 5: available to sell (docs/availability.md). A safety-stock rule's '' means "every": a
    # rule ('', 'DC1') holds back stock of every SKU at DC1. A reservation line carries its
    # reservation's expiry and whether it is still held, so what is reserved per SKU and location
    # is one look at a small partial index. The change feed is append-only; its cursor never
    # goes back (AUTOINCREMENT: a cursor is never given out twice), and it starts with every
    # SKU and location already stocked, so a connector reading from cursor 0 learns them all.
    """
    CREATE TABLE safety_stock (
        sku TEXT NOT NULL,
        location TEXT NOT NULL,
        qty INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (sku, location)
    );
    CREATE TABLE reservations (
        reservation_id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        state TEXT NOT NULL,
        digest TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        ended_at TEXT,
        fulfilled_from TEXT
    );
    CREATE INDEX reservations_held ON reservations (expires_at) WHERE state = 'held';
    CREATE TABLE reservation_lines (
        reservation_id TEXT NOT NULL REFERENCES reservations (reservation_id),
        line INTEGER NOT NULL,
        sku TEXT NOT NULL,
        location TEXT NOT NULL,
        qty INTEGER NOT NULL,
        held INTEGER NOT NULL,
        expires_at TEXT NOT NULL,
        PRIMARY KEY (reservation_id, line)
    );
    CREATE INDEX reservation_lines_held ON reservation_lines (sku, location, expires_at)
        WHERE held = 1;
    CREATE TABLE location_adjustments (
        location TEXT NOT NULL,
        adjustment_id TEXT NOT NULL,
        digest TEXT NOT NULL,
        reason TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        business_day TEXT NOT NULL,
        lines TEXT NOT NULL,
        applied_at TEXT NOT NULL,
        PRIMARY KEY (location, adjustment_id)
    );
    CREATE TABLE availability_changes (
        cursor INTEGER PRIMARY KEY AUTOINCREMENT,
        sku TEXT NOT NULL,
        location TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE channel_freshness (
        channel TEXT NOT NULL,
        location TEXT NOT NULL,
        stale INTEGER NOT NULL,
        since TEXT NOT NULL,
        PRIMARY KEY (channel, location)
    );
    INSERT INTO availability_changes (sku, location, at)
        SELECT sku, store_id, updated_at FROM inventory ORDER BY updated_at, sku, store_id;
    """,
    # 6: the catalog down to the stores (docs/catalog.md). Master data as head office edits it
    # (items, groups, books, price changes staged until published), then every published
    # version's content: a row of catalog_items / catalog_prices is part of the versions
    # from_version <= v < to_version (to_version NULL: up to the newest), so a version's content
    # never changes and a delta between two versions is a range query. Prices are decimal text
    # in the book currency's minor units; instants are runtime.clock.stamp text.
    """
    CREATE TABLE items (
        sku TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        barcode TEXT,
        unit TEXT,
        tax_class TEXT,
        active INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX items_by_barcode ON items (barcode) WHERE barcode IS NOT NULL;
    CREATE TABLE store_groups (
        group_id TEXT PRIMARY KEY,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE store_group_members (
        group_id TEXT NOT NULL REFERENCES store_groups (group_id),
        store_id TEXT NOT NULL,
        PRIMARY KEY (group_id, store_id)
    );
    CREATE TABLE price_books (
        book TEXT PRIMARY KEY,
        currency TEXT NOT NULL,
        priority INTEGER NOT NULL,
        all_stores INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE price_book_stores (
        book TEXT NOT NULL REFERENCES price_books (book),
        store_id TEXT NOT NULL,
        PRIMARY KEY (book, store_id)
    );
    CREATE TABLE price_book_groups (
        book TEXT NOT NULL REFERENCES price_books (book),
        group_id TEXT NOT NULL REFERENCES store_groups (group_id),
        PRIMARY KEY (book, group_id)
    );
    CREATE TABLE price_change_sets (
        change_set INTEGER PRIMARY KEY,
        book TEXT NOT NULL REFERENCES price_books (book),
        staged_at TEXT NOT NULL,
        forced INTEGER NOT NULL,
        changes INTEGER NOT NULL,
        version INTEGER,
        withdrawn_at TEXT
    );
    CREATE TABLE price_changes (
        price_id INTEGER PRIMARY KEY,
        change_set INTEGER NOT NULL REFERENCES price_change_sets (change_set),
        idx INTEGER NOT NULL,
        book TEXT NOT NULL,
        sku TEXT NOT NULL,
        price TEXT NOT NULL,
        effective_from TEXT NOT NULL,
        effective_to TEXT
    );
    CREATE INDEX price_changes_by_set ON price_changes (change_set);
    CREATE INDEX price_changes_by_sku ON price_changes (book, sku);
    CREATE TABLE catalog_versions (
        version INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        rollback_of INTEGER,
        setup TEXT NOT NULL,
        items INTEGER NOT NULL,
        prices INTEGER NOT NULL,
        pruned INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE catalog_items (
        sku TEXT NOT NULL,
        name TEXT NOT NULL,
        barcode TEXT,
        unit TEXT,
        tax_class TEXT,
        active INTEGER NOT NULL,
        from_version INTEGER NOT NULL,
        to_version INTEGER
    );
    CREATE UNIQUE INDEX catalog_items_head ON catalog_items (sku) WHERE to_version IS NULL;
    CREATE INDEX catalog_items_by_sku ON catalog_items (sku, from_version);
    CREATE INDEX catalog_items_from ON catalog_items (from_version);
    CREATE INDEX catalog_items_to ON catalog_items (to_version);
    CREATE TABLE catalog_prices (
        price_id INTEGER NOT NULL,
        book TEXT NOT NULL,
        sku TEXT NOT NULL,
        price TEXT NOT NULL,
        effective_from TEXT NOT NULL,
        effective_to TEXT,
        from_version INTEGER NOT NULL,
        to_version INTEGER
    );
    CREATE UNIQUE INDEX catalog_prices_head ON catalog_prices (price_id) WHERE to_version IS NULL;
    CREATE INDEX catalog_prices_by_sku ON catalog_prices (book, sku);
    CREATE INDEX catalog_prices_from ON catalog_prices (from_version);
    CREATE INDEX catalog_prices_to ON catalog_prices (to_version);
    CREATE TABLE publications (
        publication_id INTEGER PRIMARY KEY,
        version INTEGER NOT NULL REFERENCES catalog_versions (version),
        created_at TEXT NOT NULL,
        note TEXT,
        targets TEXT NOT NULL,
        rollback_to INTEGER,
        cancelled_at TEXT
    );
    CREATE TABLE publication_targets (
        publication_id INTEGER NOT NULL REFERENCES publications (publication_id),
        store_id TEXT NOT NULL,
        state TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        applied_at TEXT,
        reason TEXT,
        PRIMARY KEY (publication_id, store_id)
    );
    CREATE INDEX publication_targets_by_store ON publication_targets (store_id, state);
    CREATE TABLE catalog_stores (
        store_id TEXT PRIMARY KEY,
        applied_version INTEGER,
        applied_at TEXT,
        reported_at TEXT NOT NULL
    );
    """,
    # 7: click and collect, oversell, feed retention (docs/availability.md). A held line's
    # `short` is how many of its units the location's on hand no longer covers (a store sold
    # offline what was held). `reservation_sales` keeps every applied sale that named a
    # reservation and what it did to it (`outcome`). The feed's index finds a row's newer
    # change of the same SKU and location, so the sweep can drop superseded rows past the
    # retention; `feed_compaction` remembers how far it has looked; `webhook_cursors` how far each
    # channel's push has been acknowledged by its receiver.
    """
    ALTER TABLE reservation_lines ADD COLUMN short INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE reservation_sales (
        event_id TEXT PRIMARY KEY,
        reservation_id TEXT NOT NULL,
        store_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        applied_at TEXT NOT NULL
    );
    CREATE INDEX reservation_sales_by_reservation ON reservation_sales (reservation_id);
    CREATE INDEX availability_changes_by_key ON availability_changes (sku, location, cursor);
    CREATE TABLE feed_compaction (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        through INTEGER NOT NULL
    );
    INSERT INTO feed_compaction (id, through) VALUES (1, 0);
    CREATE TABLE webhook_cursors (
        channel TEXT PRIMARY KEY,
        cursor INTEGER NOT NULL,
        pushed_at TEXT NOT NULL
    );
    """,
    # 8: catalog versions sent to the stores and what the stores say back (issue 14, phase 2):
    # the store's clock of the report that set its applied version (a late, older report must
    # not undo a newer one), open targets found by state, and the prices a store's sales deviated
    # from (per store and SKU) beside how many sale lines each store sent.
    """
    ALTER TABLE catalog_stores ADD COLUMN state_at TEXT;
    CREATE INDEX publication_targets_by_state ON publication_targets (state, store_id);
    CREATE TABLE price_deviations (
        store_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        lines INTEGER NOT NULL,
        first_at TEXT NOT NULL,
        last_at TEXT NOT NULL,
        last_price TEXT NOT NULL,
        catalog_price TEXT NOT NULL,
        PRIMARY KEY (store_id, sku)
    );
    CREATE TABLE price_lines (
        store_id TEXT PRIMARY KEY,
        lines INTEGER NOT NULL,
        deviations INTEGER NOT NULL
    );
    """,
    # 9: events held past a gap live in the database, so that whichever hub worker fills the
    # gap applies them (issue 16, phase B); `streams.held` counts a stream's held events, read
    # with its applied_seq, so a batch with nothing held costs no query of `held_events`.
    """
    ALTER TABLE streams ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE held_events (
        store_id TEXT NOT NULL,
        stream TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        envelope BLOB NOT NULL,
        held_at TEXT NOT NULL,
        PRIMARY KEY (store_id, stream, seq)
    );
    """,
    # 10: leases on the relay's claims (issue 16, phase B: several hub workers on one
    # database). A claimed posting names the worker that claimed it and when the claim's lease
    # ends; past that it is due again for any relay (hub.storage.postings says how). Rows left
    # in 'posting' by an older hub have no lease and are due again at once, as they were.
    """
    ALTER TABLE postings ADD COLUMN claimed_by TEXT;
    ALTER TABLE postings ADD COLUMN claimed_until TEXT;
    """,
    # 11: the hub workers sharing the database (issue 16, phase B; hub.cluster.workers): each
    # one's row, upserted by its heartbeat every `[cluster] heartbeat_s`: since when it runs,
    # when it was last heard, the batches it took in, and whether it leads the cluster's
    # once-only work. Rows of workers long gone are pruned by their heartbeat instant.
    """
    CREATE TABLE workers (
        worker_id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL,
        batches_applied INTEGER NOT NULL DEFAULT 0,
        leads INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX workers_by_heartbeat ON workers (heartbeat_at);
    """,
]


def migrate(conn: sqlite3.Connection) -> tuple[int, int]:
    """Bring the database forward to the newest schema, one migration per transaction;
    (version before, version after)."""
    return run(UserVersion(conn), MIGRATIONS, "hub database")
