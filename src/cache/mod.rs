//! The AST cache stack: backends and layers behind one [`AstCache`] trait.
//!
//! ```text
//! InstrumentedCache (telemetry) -> LockedCache (flock) -> SqliteCache | MemoryCache
//! ```
//! [`factory::build_cache`] assembles the stack from a [`CacheConfig`] and the environment.

mod error;
pub mod factory;
pub mod filelock;
pub mod instrumented;
pub mod key;
pub mod locked;
pub mod memory;
pub mod sqlite;

pub use error::CacheError;
pub use factory::{CacheConfig, CacheStack, build_cache};
pub use instrumented::InstrumentedCache;
pub use key::{CACHE_VERSION, CacheKey, SourceMeta};
pub use locked::{LockConfig, LockedCache};
pub use memory::{MemoryCache, MemoryLimits};
pub use sqlite::{SqliteCache, SqliteConfig};

use serde::Serialize;
use std::sync::Arc;

use crate::symbols::SymbolTable;

/// Why a lookup missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissReason {
    /// No entry under this key.
    KeyMiss,
    /// An entry for this file exists but no longer matches the source (mtime, size or content).
    Stale,
    /// The stored value failed its checksum or did not decode; it was removed.
    Damaged,
    /// The cache lock could not be taken in time; the caller works uncached.
    LockTimeout,
    /// The database was corrupt; it was quarantined and rebuilt.
    CorruptionRecovered,
}

impl MissReason {
    /// The name used in `miss_reason` and telemetry.
    pub fn as_str(self) -> &'static str {
        match self {
            MissReason::KeyMiss => "key_miss",
            MissReason::Stale => "stale",
            MissReason::Damaged => "damaged",
            MissReason::LockTimeout => "lock_timeout",
            MissReason::CorruptionRecovered => "corruption_recovered",
        }
    }
}

/// The answer of [`AstCache::get`].
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Hit(Arc<SymbolTable>),
    Miss(MissReason),
}

impl Lookup {
    /// The value when this is a hit.
    pub fn hit(&self) -> Option<&Arc<SymbolTable>> {
        match self {
            Lookup::Hit(value) => Some(value),
            Lookup::Miss(_) => None,
        }
    }
}

/// What a [`AstCache::put`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutOutcome {
    /// The value is stored.
    pub written: bool,
    /// Entries removed to stay within the limits.
    pub evicted: u64,
    /// Older entries of the same file replaced by this one.
    pub replaced_stale: u64,
    /// Why nothing was written (lock timeout), if so.
    pub skipped: Option<MissReason>,
}

/// Counters and sizes of one cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CacheStats {
    pub backend: String,
    pub entries: u64,
    pub bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub writes: u64,
    pub evictions: u64,
    /// hits / (hits + misses), 0 when there were no requests.
    pub hit_rate: f64,
    /// Unix seconds of the least recently accessed entry.
    pub oldest_access_s: Option<i64>,
    /// Unix seconds of the most recently accessed entry.
    pub newest_access_s: Option<i64>,
    pub db_bytes: u64,
    pub wal_bytes: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
}

impl CacheStats {
    /// Recomputes `hit_rate` from the counters.
    pub fn with_hit_rate(mut self) -> Self {
        let requests = self.hits + self.misses;
        self.hit_rate = if requests == 0 {
            0.0
        } else {
            self.hits as f64 / requests as f64
        };
        self
    }
}

/// The result of an integrity check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// `"ok"` or the check's messages.
    pub result: String,
    pub ok: bool,
    /// Set when the database was quarantined and rebuilt.
    pub quarantined_to: Option<String>,
}

/// What a garbage collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Entries idle longer than the TTL.
    pub expired: u64,
    /// Entries evicted to meet `max_entries` / `max_bytes`.
    pub evicted: u64,
}

/// A cache of extracted symbol tables.
///
/// Implementations are shared between threads. Errors are typed; callers that answer users
/// treat any error as a miss and parse (the cache never fails a user's command).
pub trait AstCache: Send + Sync {
    /// The name of the storage backend (`MemoryCache` or `SqliteCache`).
    fn backend(&self) -> &'static str;
    /// Looks up `key`; `source` describes the file as it is now (stale detection).
    fn get(&self, key: &CacheKey, source: &SourceMeta) -> Result<Lookup, CacheError>;
    /// Stores `value` under `key`, replacing older entries of the same file.
    fn put(
        &self,
        key: &CacheKey,
        source: &SourceMeta,
        value: &SymbolTable,
    ) -> Result<PutOutcome, CacheError>;
    /// Removes `key`; true when it existed.
    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError>;
    /// Removes every entry; returns how many there were.
    fn clear(&self) -> Result<u64, CacheError>;
    /// Counters and sizes.
    fn stats(&self) -> Result<CacheStats, CacheError>;
    /// Runs an integrity check (`integrity_check` when `full`, else `quick_check`).
    fn check(&self, full: bool) -> Result<CheckReport, CacheError>;
    /// Applies the TTL and the limits in bounded steps.
    fn gc(&self) -> Result<GcReport, CacheError>;
    /// Runs a maintenance task; the lock layer calls it holding the exclusive lock.
    /// Returns the quarantine file name when a corrupt database was set aside.
    fn maintain(&self, task: &Maintenance) -> Result<Option<String>, CacheError>;
}

/// Maintenance that needs the exclusive lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Maintenance {
    /// The store is corrupt: quarantine it and start an empty one.
    Recover { reason: String },
    /// The schema is missing or old: create or migrate it.
    Migrate,
}

/// Current time in Unix seconds.
pub(crate) fn unix_now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
