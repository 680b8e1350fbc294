//! SQLite backend: one WAL database per segment, shared by every process.

mod pool;
pub mod schema;

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{
    AstCache, CacheError, CacheKey, CacheStats, CheckReport, GcReport, Lookup, Maintenance,
    MissReason, PutOutcome, SourceMeta, unix_now_s,
};
use crate::symbols::SymbolTable;
use crate::telemetry::Telemetry;
use pool::{Checkout, ConnectionPool};
use schema::{MigrationOutcome, SCHEMA_VERSION};

/// Settings of a [`SqliteCache`].
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// Entry limit enforced by eviction of the least recently accessed entries.
    pub max_entries: u64,
    /// Byte limit (keys plus encoded values) enforced the same way.
    pub max_bytes: u64,
    /// How long a writer waits on another writer before giving up (`Busy`).
    pub busy_timeout: Duration,
    /// Database plus WAL size above which `ast.cache.size_warning` is emitted.
    pub size_warning_bytes: u64,
    /// Entries not accessed for this long are removed by `gc` (and opportunistically).
    pub ttl: Duration,
    /// How often a `quick_check` is due when a process first opens the database.
    pub quick_check_interval: Duration,
    /// How often batched hit/miss counters and access times are written.
    pub flush_interval: Duration,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            max_entries: 100_000,
            max_bytes: 256 * 1024 * 1024,
            busy_timeout: Duration::from_secs(5),
            size_warning_bytes: 500 * 1000 * 1000,
            ttl: Duration::from_secs(7 * 24 * 3600),
            quick_check_interval: Duration::from_secs(3600),
            flush_interval: Duration::from_secs(5),
        }
    }
}

/// Access times are stored with this granularity, so a hit writes at most once a minute.
const ACCESS_GRANULARITY_S: i64 = 60;
/// Pending counter updates that force a flush.
const FLUSH_AFTER_OPS: u64 = 8192;
/// Rows removed per statement by eviction and TTL expiry.
const REMOVE_BATCH: i64 = 500;
/// Most batches one eviction pass runs (bounded even if the limits cannot be met).
const MAX_EVICTION_BATCHES: usize = 16;
/// Every this many puts, one TTL batch and a size check run inside the put.
const HOUSEKEEPING_EVERY_PUTS: u64 = 256;

#[derive(Default)]
struct Pending {
    hits: u64,
    misses: u64,
    stale: u64,
    touched: Vec<String>,
    since: Option<Instant>,
}

impl Pending {
    fn ops(&self) -> u64 {
        self.hits + self.misses
    }

    fn merge(&mut self, other: Pending) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.stale += other.stale;
        self.touched.extend(other.touched);
        self.since = self.since.or(other.since);
    }
}

/// The SQLite backend. Hits are read-only; counters and access times are written in batches.
pub struct SqliteCache {
    path: PathBuf,
    config: SqliteConfig,
    telemetry: Telemetry,
    pool: ConnectionPool,
    pending: Mutex<Pending>,
    puts: AtomicU64,
    /// Identity of the file an operation last found corrupt: recovery skips the quarantine
    /// when another process or thread has already replaced that file. It is kept (not
    /// cleared) by a recovery, so every thread that found the same file corrupt sees that it
    /// was replaced.
    corrupt_file: Mutex<Option<Option<pool::FileId>>>,
    /// When this process last ran (or found not due) a `quick_check`.
    last_quick_check: Mutex<Instant>,
}

impl SqliteCache {
    /// A cache on `path`. Nothing is opened until the first operation.
    pub fn new(path: PathBuf, config: SqliteConfig, telemetry: Telemetry) -> Self {
        let pool = ConnectionPool::new(path.clone(), config.busy_timeout);
        SqliteCache {
            path,
            config,
            telemetry,
            pool,
            pending: Mutex::new(Pending::default()),
            puts: AtomicU64::new(0),
            corrupt_file: Mutex::new(None),
            last_quick_check: Mutex::new(Instant::now()),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many times writers waited on SQLite's lock and retried (this process).
    pub fn busy_retries(&self) -> u64 {
        self.pool.busy_retries()
    }

    /// The pragmas a cache connection runs with, read back from one (for reports).
    pub fn pragmas(&self) -> Result<Vec<(String, String)>, CacheError> {
        const NAMES: [&str; 7] = [
            "journal_mode",
            "synchronous",
            "journal_size_limit",
            "wal_autocheckpoint",
            "page_size",
            "user_version",
            "temp_store",
        ];
        self.with_conn(|conn| {
            NAMES
                .iter()
                .map(|name| {
                    let value: rusqlite::types::Value =
                        conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))?;
                    let text = match value {
                        rusqlite::types::Value::Integer(i) => i.to_string(),
                        rusqlite::types::Value::Text(t) => t,
                        other => format!("{other:?}"),
                    };
                    Ok((name.to_string(), text))
                })
                .collect()
        })
    }

    /// The shared busy-retry counter, readable after the cache is boxed in a stack.
    pub fn busy_retry_counter(&self) -> Arc<AtomicU64> {
        self.pool.busy_retry_counter()
    }

    /// Runs `op` on a pooled connection, classifying SQLite errors.
    fn with_conn<T>(
        &self,
        op: impl FnOnce(&mut Connection) -> Result<T, CacheError>,
    ) -> Result<T, CacheError> {
        let Checkout {
            mut conn,
            generation,
            fresh_generation,
        } = self.pool.checkout().map_err(|e| self.classify(e))?;
        if fresh_generation {
            if let Err(err) = self.validate_new_generation(&conn) {
                self.pool.invalidate();
                return Err(err);
            }
            self.pool.mark_validated(generation);
        }
        let result = op(&mut conn).map_err(|e| self.classify_cache_error(e));
        match &result {
            Err(CacheError::Corrupt { .. }) | Err(CacheError::NeedsMigration { .. }) => {
                self.pool.invalidate()
            }
            _ => self.pool.checkin(conn, generation),
        }
        result
    }

    /// Checks the schema version and the journal mode, and runs a `quick_check` when one is
    /// due. A new file (no schema, not in WAL mode yet) needs a migration: it is set up under
    /// the exclusive lock.
    fn validate_new_generation(&self, conn: &Connection) -> Result<(), CacheError> {
        let version = schema::stored_version(conn).map_err(|e| self.classify(e))?;
        if version != SCHEMA_VERSION || !pool::is_wal(conn).map_err(|e| self.classify(e))? {
            return Err(CacheError::NeedsMigration {
                path: self.path.clone(),
            });
        }
        let last: i64 = conn
            .query_row(
                "SELECT value FROM counters WHERE name = 'last_quick_check_s'",
                [],
                |row| row.get(0),
            )
            .map_err(|e| self.classify(e))?;
        if unix_now_s() - last >= self.config.quick_check_interval.as_secs() as i64 {
            let report = run_check(conn, false).map_err(|e| self.classify(e))?;
            if !report.ok {
                return Err(self.corrupt(format!("quick_check failed: {}", report.result)));
            }
            record_quick_check(conn);
        }
        self.warn_if_large();
        Ok(())
    }

    /// Runs a `quick_check` when `quick_check_interval` has passed since the last one in this
    /// process (one thread at a time; the others go on). Damage that no lookup has read yet is
    /// found this way in long-lived processes, and a failure is corruption like any other.
    fn quick_check_if_due(&self) -> Result<(), CacheError> {
        let Ok(mut last) = self.last_quick_check.try_lock() else {
            return Ok(());
        };
        if last.elapsed() < self.config.quick_check_interval {
            return Ok(());
        }
        *last = Instant::now();
        drop(last);
        let report = self.check_from_disk(false)?;
        if !report.ok {
            return Err(self.corrupt(format!("quick_check failed: {}", report.result)));
        }
        Ok(())
    }

    /// Runs a check on a connection of its own, opened for it: a pooled connection may answer
    /// from its page cache, which SQLite keeps while the WAL index is unchanged, so damage
    /// written to the file behind SQLite's back would go unseen.
    fn check_from_disk(&self, full: bool) -> Result<CheckReport, CacheError> {
        let conn = self.pool.open().map_err(|e| self.classify(e))?;
        run_check(&conn, full).map_err(|e| self.classify(e))
    }

    fn corrupt(&self, message: String) -> CacheError {
        self.note_corrupt_file();
        CacheError::Corrupt {
            path: self.path.clone(),
            message,
        }
    }

    /// Records the file now at the path as the one found corrupt.
    fn note_corrupt_file(&self) {
        *self.corrupt_file.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(pool::file_id(&self.path));
    }

    /// Maps SQLite's corruption codes to [`CacheError::Corrupt`] and lock codes to `Busy`.
    fn classify(&self, err: rusqlite::Error) -> CacheError {
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt) | Some(ErrorCode::NotADatabase) => {
                self.corrupt(err.to_string())
            }
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => CacheError::Busy,
            Some(ErrorCode::ReadOnly) => {
                // SQLITE_READONLY_DBMOVED: the file was replaced under an old connection.
                self.pool.invalidate();
                CacheError::Sqlite(err)
            }
            _ => CacheError::Sqlite(err),
        }
    }

    fn classify_cache_error(&self, err: CacheError) -> CacheError {
        match err {
            CacheError::Sqlite(inner) => self.classify(inner),
            other => other,
        }
    }

    /// Counts one lookup and flushes the batch when it is due.
    fn record_lookup(&self, lookup: &Lookup, touched: Option<&CacheKey>) {
        let due = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            match lookup {
                Lookup::Hit(_) => pending.hits += 1,
                Lookup::Miss(reason) => {
                    pending.misses += 1;
                    if *reason == MissReason::Stale {
                        pending.stale += 1;
                    }
                }
            }
            if let Some(key) = touched {
                pending.touched.push(key.as_str().to_string());
            }
            let since = *pending.since.get_or_insert_with(Instant::now);
            pending.ops() >= FLUSH_AFTER_OPS || since.elapsed() >= self.config.flush_interval
        };
        if due {
            let _ = self.flush(false);
        }
    }

    fn take_pending(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn restore_pending(&self, pending: Pending) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .merge(pending);
    }

    /// Writes the batched counters and access times in one transaction.
    pub fn flush_pending(&self) -> Result<(), CacheError> {
        self.flush(true)
    }

    /// Writes the batch. Without `wait` it gives up at once when another writer holds the
    /// lock and keeps the batch for later: a lookup never queues behind a writer just to
    /// record itself.
    fn flush(&self, wait: bool) -> Result<(), CacheError> {
        let pending = self.take_pending();
        if pending.ops() == 0 && pending.touched.is_empty() {
            return Ok(());
        }
        let result = self.with_conn(|conn| {
            if !wait {
                self.pool.set_wait_on_busy(conn, false)?;
            }
            let written = commit_pending(conn, &pending);
            if !wait {
                self.pool.set_wait_on_busy(conn, true)?;
            }
            Ok(written?)
        });
        if result.is_err() {
            self.restore_pending(pending);
        }
        result
    }

    fn db_sizes(&self) -> (u64, u64) {
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        (size(&self.path), size(&sidecar(&self.path, "-wal")))
    }

    /// Emits `ast.cache.size_warning` when database plus WAL pass the configured size.
    fn warn_if_large(&self) {
        let (db, wal) = self.db_sizes();
        if db + wal <= self.config.size_warning_bytes {
            return;
        }
        self.telemetry
            .emit_timed("ast.cache.size_warning", Duration::ZERO, |e| {
                e.result("backend", self.backend())
                    .result("segment_id", self.telemetry.segment_id())
                    .result("db_bytes", db)
                    .result("wal_bytes", wal)
                    .result("threshold_bytes", self.config.size_warning_bytes);
            });
    }

    fn lookup(
        &self,
        conn: &Connection,
        key: &CacheKey,
        source: &SourceMeta,
    ) -> Result<(Lookup, bool), CacheError> {
        let mut stmt = conn.prepare_cached(
            "SELECT src_mtime_ns, src_size, value, checksum, accessed_s FROM entries WHERE key = ?1",
        )?;
        let row = stmt
            .query_row([key.as_str()], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, Vec<u8>>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                ))
            })
            .optional()?;
        let Some((mtime_ns, size, value, checksum, accessed_s)) = row else {
            let mut by_file =
                conn.prepare_cached("SELECT 1 FROM entries WHERE file_rel = ?1 LIMIT 1")?;
            let stale = by_file.exists([key.file_rel()])?;
            let reason = if stale {
                MissReason::Stale
            } else {
                MissReason::KeyMiss
            };
            return Ok((Lookup::Miss(reason), false));
        };
        if mtime_ns != source.mtime_ns || size as u64 != source.size {
            return Ok((Lookup::Miss(MissReason::Stale), false));
        }
        if value_checksum(&value) != checksum {
            delete_key(conn, key)?;
            return Ok((Lookup::Miss(MissReason::Damaged), false));
        }
        match postcard::from_bytes::<SymbolTable>(&value) {
            Ok(table) => {
                let touch = unix_now_s() - accessed_s >= ACCESS_GRANULARITY_S;
                Ok((Lookup::Hit(Arc::new(table)), touch))
            }
            Err(_) => {
                delete_key(conn, key)?;
                Ok((Lookup::Miss(MissReason::Damaged), false))
            }
        }
    }

    fn quarantine(&self, reason: &str) -> Result<Option<String>, CacheError> {
        self.pool.invalidate();
        let seen = *self.corrupt_file.lock().unwrap_or_else(|p| p.into_inner());
        if seen.is_some_and(|failed| failed != pool::file_id(&self.path)) {
            return Ok(None);
        }
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let suffix = format!(".corrupt-{stamp}-{}", std::process::id());
        let target = append_to_name(&self.path, &suffix);
        let moved = match std::fs::rename(&self.path, &target) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(CacheError::io(&self.path, e)),
        };
        for side in ["-wal", "-shm"] {
            let from = sidecar(&self.path, side);
            if from.exists() {
                let to = append_to_name(&from, &suffix);
                std::fs::rename(&from, &to).map_err(|e| CacheError::io(&from, e))?;
            }
        }
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned());
        self.telemetry
            .emit_timed("ast.cache.corruption_detected", Duration::ZERO, |e| {
                e.arg("reason", reason)
                    .result("backend", self.backend())
                    .result("segment_id", self.telemetry.segment_id())
                    .result("quarantined_to", name.clone().unwrap_or_default());
            });
        self.create_fresh()?;
        Ok(if moved { name } else { None })
    }

    fn create_fresh(&self) -> Result<(), CacheError> {
        let mut conn = self.pool.open_wal().map_err(|e| self.classify(e))?;
        match schema::migrate(&mut conn).map_err(|e| self.classify(e))? {
            MigrationOutcome::TooNew { found } => Err(CacheError::Config(format!(
                "cache database schema v{found} is newer than this build supports (v{SCHEMA_VERSION})"
            ))),
            // A new, empty schema needs no check yet.
            MigrationOutcome::Migrated { .. } => {
                record_quick_check(&conn);
                Ok(())
            }
            // Migrated by someone else, or only the journal mode changed: nothing was
            // checked here, so a due quick_check stays due.
            MigrationOutcome::AlreadyCurrent => Ok(()),
        }
    }

    fn evict_to_limits(&self, conn: &Connection, keep: Option<&str>) -> Result<u64, CacheError> {
        let mut evicted = 0;
        for _ in 0..MAX_EVICTION_BATCHES {
            let (entries, bytes) = read_totals(conn)?;
            let over_entries = entries.saturating_sub(self.config.max_entries);
            let over_bytes = bytes.saturating_sub(self.config.max_bytes);
            if over_entries == 0 && over_bytes == 0 {
                break;
            }
            let average = (bytes / entries.max(1)).max(1);
            let wanted = over_entries.max(over_bytes.div_ceil(average)).max(1) as i64;
            let removed = conn.execute(
                "DELETE FROM entries WHERE key IN (SELECT key FROM entries WHERE key <> ?1
                 ORDER BY accessed_s, created_s LIMIT ?2)",
                params![keep.unwrap_or(""), wanted.min(REMOVE_BATCH)],
            )? as u64;
            evicted += removed;
            if removed == 0 {
                break;
            }
        }
        Ok(evicted)
    }

    fn expire_batch(&self, conn: &Connection) -> Result<u64, CacheError> {
        let cutoff = unix_now_s() - self.config.ttl.as_secs() as i64;
        let removed = conn.execute(
            "DELETE FROM entries WHERE key IN (SELECT key FROM entries WHERE accessed_s < ?1 LIMIT ?2)",
            params![cutoff, REMOVE_BATCH],
        )?;
        Ok(removed as u64)
    }
}

impl Drop for SqliteCache {
    fn drop(&mut self) {
        let _ = self.flush_pending();
    }
}

impl AstCache for SqliteCache {
    fn backend(&self) -> &'static str {
        "SqliteCache"
    }

    fn get(&self, key: &CacheKey, source: &SourceMeta) -> Result<Lookup, CacheError> {
        self.quick_check_if_due()?;
        let (lookup, touch) = self.with_conn(|conn| self.lookup(conn, key, source))?;
        self.record_lookup(&lookup, touch.then_some(key));
        Ok(lookup)
    }

    fn put(
        &self,
        key: &CacheKey,
        source: &SourceMeta,
        value: &SymbolTable,
    ) -> Result<PutOutcome, CacheError> {
        let encoded = postcard::to_allocvec(value)?;
        let bytes = (encoded.len() + key.as_str().len() + key.file_rel().len()) as u64;
        if bytes > self.config.max_bytes {
            return Err(CacheError::ValueTooLarge {
                size: bytes,
                max: self.config.max_bytes,
            });
        }
        let checksum = value_checksum(&encoded);
        let housekeeping = self.puts.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY_PUTS
            == HOUSEKEEPING_EVERY_PUTS - 1;
        let pending = self.take_pending();
        let result = self.with_conn(|conn| {
            let now = unix_now_s();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let replaced = tx
                .prepare_cached("DELETE FROM entries WHERE file_rel = ?1 AND key <> ?2")?
                .execute(params![key.file_rel(), key.as_str()])? as u64;
            tx.prepare_cached(
                "INSERT INTO entries(key, file_rel, src_mtime_ns, src_size, value, checksum, bytes, created_s, accessed_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
                 ON CONFLICT(key) DO UPDATE SET src_mtime_ns = ?3, src_size = ?4, value = ?5,
                    checksum = ?6, bytes = ?7, accessed_s = ?8",
            )?
            .execute(params![
                key.as_str(),
                key.file_rel(),
                source.mtime_ns,
                source.size as i64,
                encoded,
                checksum,
                bytes as i64,
                now
            ])?;
            let mut evicted = self.evict_to_limits(&tx, Some(key.as_str()))?;
            if housekeeping {
                evicted += self.expire_batch(&tx)?;
            }
            write_pending(&tx, &pending, 1, evicted)?;
            tx.commit()?;
            Ok(PutOutcome {
                written: true,
                evicted,
                replaced_stale: replaced,
                skipped: None,
            })
        });
        match &result {
            Ok(_) if housekeeping => self.warn_if_large(),
            Ok(_) => {}
            Err(_) => self.restore_pending(pending),
        }
        result
    }

    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        self.with_conn(|conn| Ok(delete_key(conn, key)?))
    }

    fn clear(&self) -> Result<u64, CacheError> {
        let _ = self.flush_pending();
        let entries = self.with_conn(|conn| Ok(read_totals(conn)?.0)).unwrap_or(0);
        self.pool.invalidate();
        for side in ["", "-wal", "-shm"] {
            let path = sidecar(&self.path, side);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CacheError::io(&path, e)),
            }
        }
        Ok(entries)
    }

    fn stats(&self) -> Result<CacheStats, CacheError> {
        let _ = self.flush_pending();
        let (db_bytes, wal_bytes) = self.db_sizes();
        self.with_conn(|conn| {
            let mut stats = CacheStats {
                backend: self.backend().to_string(),
                db_bytes,
                wal_bytes,
                max_entries: self.config.max_entries,
                max_bytes: self.config.max_bytes,
                ..CacheStats::default()
            };
            let mut stmt = conn.prepare_cached("SELECT name, value FROM counters")?;
            let rows = stmt.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (name, value) = row?;
                let value = value.max(0) as u64;
                match name.as_str() {
                    "entries" => stats.entries = value,
                    "bytes" => stats.bytes = value,
                    "hits" => stats.hits = value,
                    "misses" => stats.misses = value,
                    "stale" => stats.stale = value,
                    "writes" => stats.writes = value,
                    "evictions" => stats.evictions = value,
                    _ => {}
                }
            }
            (stats.oldest_access_s, stats.newest_access_s) = conn.query_row(
                "SELECT min(accessed_s), max(accessed_s) FROM entries",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            Ok(stats.with_hit_rate())
        })
    }

    fn check(&self, full: bool) -> Result<CheckReport, CacheError> {
        let report = self.check_from_disk(full);
        match report {
            Ok(report) => {
                if report.ok {
                    self.with_conn(|conn| {
                        record_quick_check(conn);
                        Ok(())
                    })?;
                } else {
                    // A recovery asked for after this report applies to this file.
                    self.note_corrupt_file();
                }
                Ok(report)
            }
            Err(CacheError::Corrupt { message, .. }) => Ok(CheckReport {
                result: message,
                ok: false,
                quarantined_to: None,
            }),
            Err(other) => Err(other),
        }
    }

    fn gc(&self) -> Result<GcReport, CacheError> {
        let mut report = GcReport::default();
        loop {
            let removed = self.with_conn(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let removed = self.expire_batch(&tx)?;
                tx.commit()?;
                Ok(removed)
            })?;
            report.expired += removed;
            if removed < REMOVE_BATCH as u64 {
                break;
            }
        }
        report.evicted = self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let evicted = self.evict_to_limits(&tx, None)?;
            tx.execute(
                "UPDATE counters SET value = value + ?1 WHERE name = 'evictions'",
                [evicted as i64],
            )?;
            tx.commit()?;
            Ok(evicted)
        })?;
        Ok(report)
    }

    fn maintain(&self, task: &Maintenance) -> Result<Option<String>, CacheError> {
        match task {
            Maintenance::Migrate => {
                self.pool.invalidate();
                self.create_fresh().map(|()| None).or_else(|err| match err {
                    CacheError::Corrupt { message, .. } => self.quarantine(&message),
                    other => Err(other),
                })
            }
            Maintenance::Recover { reason } => self.quarantine(reason),
        }
    }
}

/// `<path><suffix>`, e.g. the `-wal` file of a database.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    append_to_name(path, suffix)
}

fn append_to_name(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// 64 bits of BLAKE3 over the encoded value: a damaged value is a miss, never a wrong hit.
fn value_checksum(encoded: &[u8]) -> i64 {
    let hash = blake3::hash(encoded);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    i64::from_le_bytes(first)
}

fn delete_key(conn: &Connection, key: &CacheKey) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM entries WHERE key = ?1")?
        .execute([key.as_str()])?
        > 0)
}

fn read_totals(conn: &Connection) -> rusqlite::Result<(u64, u64)> {
    let mut stmt = conn.prepare_cached(
        "SELECT (SELECT value FROM counters WHERE name = 'entries'),
                (SELECT value FROM counters WHERE name = 'bytes')",
    )?;
    stmt.query_row([], |row| {
        Ok((
            row.get::<_, i64>(0)?.max(0) as u64,
            row.get::<_, i64>(1)?.max(0) as u64,
        ))
    })
}

fn commit_pending(conn: &mut Connection, pending: &Pending) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    write_pending(&tx, pending, 0, 0)?;
    tx.commit()
}

fn write_pending(
    conn: &Connection,
    pending: &Pending,
    writes: u64,
    evictions: u64,
) -> rusqlite::Result<()> {
    let mut add = conn.prepare_cached("UPDATE counters SET value = value + ?2 WHERE name = ?1")?;
    for (name, delta) in [
        ("hits", pending.hits),
        ("misses", pending.misses),
        ("stale", pending.stale),
        ("writes", writes),
        ("evictions", evictions),
    ] {
        if delta > 0 {
            add.execute(params![name, delta as i64])?;
        }
    }
    if !pending.touched.is_empty() {
        let mut touch = conn.prepare_cached("UPDATE entries SET accessed_s = ?2 WHERE key = ?1")?;
        let now = unix_now_s();
        for key in &pending.touched {
            touch.execute(params![key, now])?;
        }
    }
    Ok(())
}

fn run_check(conn: &Connection, full: bool) -> rusqlite::Result<CheckReport> {
    let pragma = if full {
        "PRAGMA integrity_check"
    } else {
        "PRAGMA quick_check"
    };
    let mut stmt = conn.prepare(pragma)?;
    let lines: Vec<String> = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    let ok = lines.len() == 1 && lines[0] == "ok";
    Ok(CheckReport {
        result: lines.join("; "),
        ok,
        quarantined_to: None,
    })
}

/// Records when a check last passed (best effort: a busy writer just delays the record).
fn record_quick_check(conn: &Connection) {
    let _ = conn.execute(
        "UPDATE counters SET value = ?1 WHERE name = 'last_quick_check_s'",
        [unix_now_s()],
    );
}
