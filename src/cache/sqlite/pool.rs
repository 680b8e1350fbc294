//! Connections to one database file, re-validated against the file's identity.
//!
//! Every operation first compares the inode at the database path with the one the pooled
//! connections were opened on. When another process has cleared or quarantined the file, the
//! pool is dropped and new connections are opened on the new file. Connections are opened
//! with `NO_CKPT_ON_CLOSE`, so closing one that still points at a replaced file never deletes
//! the new file's WAL by name.

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Device and inode of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

/// The identity of the file at `path`, if it exists.
pub fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).ok().map(|m| FileId {
        dev: m.dev(),
        ino: m.ino(),
    })
}

/// A pooled connection with the generation it belongs to.
pub struct Checkout {
    pub conn: Connection,
    pub generation: u64,
    /// True while the generation has not passed validation: validate this connection and
    /// report success with [`ConnectionPool::mark_validated`].
    pub fresh_generation: bool,
}

struct PoolState {
    generation: u64,
    identity: Option<FileId>,
    /// A connection of this generation passed validation (schema version, due check).
    validated: bool,
    idle: Vec<Connection>,
}

/// A pool of connections to one database file.
pub struct ConnectionPool {
    path: PathBuf,
    busy_timeout: Duration,
    busy_retries: Arc<AtomicU64>,
    state: Mutex<PoolState>,
}

impl ConnectionPool {
    /// A pool for `path`; no connection is opened yet.
    pub fn new(path: PathBuf, busy_timeout: Duration) -> Self {
        ConnectionPool {
            path,
            busy_timeout,
            busy_retries: Arc::new(AtomicU64::new(0)),
            state: Mutex::new(PoolState {
                generation: 0,
                identity: None,
                validated: false,
                idle: Vec::new(),
            }),
        }
    }

    /// Times a writer waited on SQLite's lock and retried.
    pub fn busy_retries(&self) -> u64 {
        self.busy_retries.load(Ordering::Relaxed)
    }

    /// The shared retry counter (stays readable after the cache is boxed in a stack).
    pub fn busy_retry_counter(&self) -> Arc<AtomicU64> {
        self.busy_retries.clone()
    }

    fn state(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection on the file currently at the path (opening one if none is idle).
    pub fn checkout(&self) -> rusqlite::Result<Checkout> {
        let on_disk = file_id(&self.path);
        let generation = {
            let mut state = self.state();
            if state.identity.is_some() && state.identity != on_disk {
                state.idle.clear();
                state.generation += 1;
                state.identity = None;
                state.validated = false;
            }
            if state.validated
                && state.identity.is_some()
                && let Some(conn) = state.idle.pop()
            {
                return Ok(Checkout {
                    conn,
                    generation: state.generation,
                    fresh_generation: false,
                });
            }
            state.generation
        };
        let conn = self.open()?;
        let mut state = self.state();
        if state.identity.is_none() && state.generation == generation {
            state.identity = file_id(&self.path);
        }
        // Until one connection of the generation has been validated, every new connection is
        // validated: a second thread must not use the file while the first still finds it
        // unmigrated or corrupt.
        let fresh_generation = !(state.validated && state.generation == generation);
        Ok(Checkout {
            conn,
            generation,
            fresh_generation,
        })
    }

    /// Returns a healthy connection to the pool (dropped if its generation is over).
    pub fn checkin(&self, conn: Connection, generation: u64) {
        let mut state = self.state();
        if state.generation == generation && state.identity.is_some() {
            state.idle.push(conn);
        }
    }

    /// Records that a connection of `generation` passed validation.
    pub fn mark_validated(&self, generation: u64) {
        let mut state = self.state();
        if state.generation == generation && state.identity.is_some() {
            state.validated = true;
        }
    }

    /// Drops every connection; the next checkout opens the file anew.
    pub fn invalidate(&self) {
        let mut state = self.state();
        state.idle.clear();
        state.generation += 1;
        state.identity = None;
        state.validated = false;
    }

    /// Whether `conn` waits for another writer (retrying up to the busy timeout) or gets
    /// `SQLITE_BUSY` at once.
    pub fn set_wait_on_busy(&self, conn: &mut Connection, wait: bool) -> rusqlite::Result<()> {
        if wait {
            conn.busy_handler(Some(busy_handler(
                self.busy_timeout,
                self.busy_retries.clone(),
            )))
        } else {
            conn.busy_handler(None::<fn(i32) -> bool>)
        }
    }

    /// Opens and configures one connection. It does not change the journal mode: putting a
    /// new file in WAL mode is left to [`ConnectionPool::open_wal`], which maintenance runs
    /// under the exclusive lock (connections converting one new file at once block each other
    /// inside SQLite).
    pub fn open(&self) -> rusqlite::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&self.path, flags)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        self.set_wait_on_busy(&mut conn, true)?;
        conn.set_prepared_statement_cache_capacity(32);
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=16777216; PRAGMA temp_store=MEMORY;",
        )?;
        Ok(conn)
    }

    /// Opens a connection and puts the file in WAL mode (a no-op when it already is).
    pub fn open_wal(&self) -> rusqlite::Result<Connection> {
        let conn = self.open()?;
        let mode = self.switch_to_wal(&conn)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!(
                    "could not switch the cache database to WAL (journal_mode is {mode})"
                )),
            ));
        }
        Ok(conn)
    }

    /// Puts `conn` in WAL mode. SQLite can answer the switch with `SQLITE_BUSY` at once,
    /// without calling the busy handler, while another connection has the new file open, so
    /// the switch is retried here with the same patience.
    fn switch_to_wal(&self, conn: &Connection) -> rusqlite::Result<String> {
        let mut wait = busy_handler(self.busy_timeout, self.busy_retries.clone());
        let mut attempt = 0;
        loop {
            match conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0)) {
                Err(err)
                    if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && wait(attempt) =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Whether the database file is in WAL mode (the file's header decides; a new file is not).
pub fn is_wal(conn: &Connection) -> rusqlite::Result<bool> {
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    Ok(mode.eq_ignore_ascii_case("wal"))
}

/// Sleeps briefly and retries while another writer holds SQLite's lock, up to `timeout`.
/// Short first sleeps keep latency low; every retry is counted.
fn busy_handler(timeout: Duration, retries: Arc<AtomicU64>) -> impl FnMut(i32) -> bool + Send {
    let mut started = Instant::now();
    move |attempt| {
        if attempt == 0 {
            started = Instant::now();
        }
        if started.elapsed() >= timeout {
            return false;
        }
        retries.fetch_add(1, Ordering::Relaxed);
        let shift = attempt.clamp(0, 5) as u32;
        std::thread::sleep(Duration::from_micros((50u64 << shift).min(2_000)));
        true
    }
}
