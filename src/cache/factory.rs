//! Builds the cache stack from a [`CacheConfig`] and the environment.

use std::path::PathBuf;

use super::filelock::CacheLock;
use super::locked::WaitObserver;
use super::{
    AstCache, CacheError, InstrumentedCache, LockConfig, LockedCache, MemoryCache, MemoryLimits,
    SqliteCache, SqliteConfig,
};
use crate::segment::Segment;
use crate::telemetry::Telemetry;

/// `TRIFECTA_AST_PERSIST`: `1` selects SQLite, `0` memory.
pub const ENV_PERSIST: &str = "TRIFECTA_AST_PERSIST";

/// Everything the factory needs.
#[derive(Clone)]
pub struct CacheConfig {
    pub segment: Segment,
    /// `Some` from a command-line flag; `None` reads the environment (default: persist).
    pub persist: Option<bool>,
    pub memory: MemoryLimits,
    pub sqlite: SqliteConfig,
    pub lock: LockConfig,
    pub telemetry: Telemetry,
    /// Receives every lock wait (used by the soak harness).
    pub wait_observer: Option<WaitObserver>,
}

impl CacheConfig {
    /// Defaults for `segment`.
    pub fn new(segment: Segment, telemetry: Telemetry) -> Self {
        CacheConfig {
            segment,
            persist: None,
            memory: MemoryLimits::default(),
            sqlite: SqliteConfig::default(),
            lock: LockConfig::default(),
            telemetry,
            wait_observer: None,
        }
    }
}

/// A built stack and facts about it.
pub struct CacheStack {
    pub cache: Box<dyn AstCache>,
    pub persistent: bool,
    /// The database file when persistent.
    pub db_path: Option<PathBuf>,
    /// Whether the database file existed before this stack was built.
    pub db_existed: bool,
}

/// Reads `TRIFECTA_AST_PERSIST`; an unknown value is a configuration error.
pub fn persist_from_env() -> Result<Option<bool>, CacheError> {
    match std::env::var(ENV_PERSIST) {
        Err(_) => Ok(None),
        Ok(value) => match value.trim() {
            "" => Ok(None),
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            other => Err(CacheError::Config(format!(
                "{ENV_PERSIST} must be 0 or 1, got '{other}'"
            ))),
        },
    }
}

/// Builds telemetry(lock(sqlite)) when persistent, telemetry(memory) otherwise.
pub fn build_cache(config: CacheConfig) -> Result<CacheStack, CacheError> {
    let persistent = match config.persist {
        Some(flag) => flag,
        None => persist_from_env()?.unwrap_or(true),
    };
    if !persistent {
        let memory = MemoryCache::new(config.memory)?;
        return Ok(CacheStack {
            cache: Box::new(InstrumentedCache::new(Box::new(memory), config.telemetry)),
            persistent,
            db_path: None,
            db_existed: false,
        });
    }
    validate_sqlite(&config.sqlite)?;
    let dir = config.segment.cache_dir();
    std::fs::create_dir_all(&dir).map_err(|e| CacheError::io(&dir, e))?;
    let db_path = config.segment.db_path();
    let db_existed = db_path.exists();
    let sqlite = SqliteCache::new(db_path.clone(), config.sqlite, config.telemetry.clone());
    let lock = CacheLock::new(config.segment.lock_path());
    let mut locked = LockedCache::new(
        Box::new(sqlite),
        lock,
        config.lock,
        config.telemetry.clone(),
    );
    if let Some(observer) = config.wait_observer {
        locked = locked.with_wait_observer(observer);
    }
    Ok(CacheStack {
        cache: Box::new(InstrumentedCache::new(Box::new(locked), config.telemetry)),
        persistent,
        db_path: Some(db_path),
        db_existed,
    })
}

fn validate_sqlite(config: &SqliteConfig) -> Result<(), CacheError> {
    if config.max_entries == 0 {
        return Err(CacheError::Config("max_entries must be at least 1".into()));
    }
    if config.max_bytes == 0 {
        return Err(CacheError::Config("max_bytes must be at least 1".into()));
    }
    Ok(())
}
