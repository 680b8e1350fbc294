//! Schema and migrations, versioned with `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i64 = 1;

/// Counters kept in the `counters` table. `entries` and `bytes` are kept exact by triggers;
/// the request counters are added in batches by every process.
pub const COUNTER_NAMES: [&str; 8] = [
    "entries",
    "bytes",
    "hits",
    "misses",
    "stale",
    "writes",
    "evictions",
    "last_quick_check_s",
];

const SCHEMA_V1: &str = "
CREATE TABLE entries (
    key          TEXT PRIMARY KEY NOT NULL,
    file_rel     TEXT NOT NULL,
    src_mtime_ns INTEGER NOT NULL,
    src_size     INTEGER NOT NULL,
    value        BLOB NOT NULL,
    checksum     INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    created_s    INTEGER NOT NULL,
    accessed_s   INTEGER NOT NULL
);
CREATE INDEX entries_by_file ON entries(file_rel);
CREATE INDEX entries_by_access ON entries(accessed_s);
CREATE TABLE counters (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TRIGGER entries_insert AFTER INSERT ON entries BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'entries';
    UPDATE counters SET value = value + NEW.bytes WHERE name = 'bytes';
END;
CREATE TRIGGER entries_delete AFTER DELETE ON entries BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'entries';
    UPDATE counters SET value = value - OLD.bytes WHERE name = 'bytes';
END;
CREATE TRIGGER entries_resize AFTER UPDATE OF bytes ON entries BEGIN
    UPDATE counters SET value = value + NEW.bytes - OLD.bytes WHERE name = 'bytes';
END;
";

/// The schema version stored in the file (0 for a new, empty database).
pub fn stored_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// What [`migrate`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum MigrationOutcome {
    AlreadyCurrent,
    Migrated {
        from: i64,
    },
    /// The file was written by a newer build; it is left untouched.
    TooNew {
        found: i64,
    },
}

/// Creates or migrates the schema in one write transaction. Cached data is disposable, so an
/// older schema is dropped and recreated.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<MigrationOutcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = stored_version(&tx)?;
    if found == SCHEMA_VERSION {
        return Ok(MigrationOutcome::AlreadyCurrent);
    }
    if found > SCHEMA_VERSION {
        return Ok(MigrationOutcome::TooNew { found });
    }
    tx.execute_batch(
        "DROP TRIGGER IF EXISTS entries_insert;
         DROP TRIGGER IF EXISTS entries_delete;
         DROP TRIGGER IF EXISTS entries_resize;
         DROP TABLE IF EXISTS entries;
         DROP TABLE IF EXISTS counters;",
    )?;
    tx.execute_batch(SCHEMA_V1)?;
    for name in COUNTER_NAMES {
        tx.execute("INSERT INTO counters(name, value) VALUES (?1, 0)", [name])?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(MigrationOutcome::Migrated { from: found })
}
