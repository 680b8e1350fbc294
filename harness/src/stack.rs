//! The cache stack the soak drives: the library's layers plus two measuring layers.
//!
//! ```text
//! CountingCache -> InstrumentedCache -> LockedCache -> TimedCache -> SqliteCache
//! ```
//! `TimedCache` sits inside the lock layer, so `get`/`put` latencies exclude lock waits (those
//! are recorded separately through the lock layer's wait observer). `CountingCache` sits
//! outside the telemetry layer and counts exactly the calls that emit events, so telemetry can
//! be reconciled with the operations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use trifecta::cache::filelock::CacheLock;
use trifecta::cache::{
    AstCache, CacheError, CacheKey, CacheStack, CacheStats, CheckReport, GcReport,
    InstrumentedCache, LockConfig, LockedCache, Lookup, Maintenance, MissReason, PutOutcome,
    SourceMeta, SqliteCache, SqliteConfig,
};
use trifecta::segment::Segment;
use trifecta::symbols::SymbolTable;
use trifecta::telemetry::Telemetry;

use crate::metrics;

/// Counts of cache calls made by this process.
#[derive(Debug, Default)]
pub struct CacheCounts {
    pub gets: AtomicU64,
    pub puts: AtomicU64,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub stale: AtomicU64,
    pub evict_events: AtomicU64,
    pub evictions: AtomicU64,
    pub lock_timeouts: AtomicU64,
    pub recovered: AtomicU64,
    pub errors: AtomicU64,
}

impl CacheCounts {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Current value of a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Records `get`/`put` latencies of the wrapped backend.
pub struct TimedCache {
    inner: Box<dyn AstCache>,
}

/// Counts calls and outcomes at the outermost layer.
pub struct CountingCache {
    inner: Box<dyn AstCache>,
    counts: Arc<CacheCounts>,
}

/// The soak's stack and the counters read from it.
pub struct SoakStack {
    pub stack: CacheStack,
    pub counts: Arc<CacheCounts>,
    /// SQLite busy-handler retries in this process.
    pub busy_retries: Arc<AtomicU64>,
}

/// Builds the soak's stack on `segment`, recording lock waits into the calling thread's metrics.
pub fn build(
    segment: &Segment,
    telemetry: Telemetry,
    lock: LockConfig,
    quick_check_interval: Duration,
) -> anyhow::Result<SoakStack> {
    std::fs::create_dir_all(segment.cache_dir())?;
    let counts = Arc::new(CacheCounts::default());
    let db_path = segment.db_path();
    let db_existed = db_path.exists();
    let config = SqliteConfig {
        quick_check_interval,
        ..SqliteConfig::default()
    };
    let sqlite = SqliteCache::new(db_path.clone(), config, telemetry.clone());
    let busy_retries = sqlite.busy_retry_counter();
    let timed = TimedCache {
        inner: Box::new(sqlite),
    };
    let locked = LockedCache::new(
        Box::new(timed),
        CacheLock::new(segment.lock_path()),
        lock,
        telemetry.clone(),
    )
    .with_wait_observer(Arc::new(|_mode, waited| {
        metrics::record_wait(Instant::now() - waited, waited)
    }));
    let instrumented = InstrumentedCache::new(Box::new(locked), telemetry);
    let stack = CacheStack {
        cache: Box::new(CountingCache {
            inner: Box::new(instrumented),
            counts: counts.clone(),
        }),
        persistent: true,
        db_path: Some(db_path),
        db_existed,
    };
    Ok(SoakStack {
        stack,
        counts,
        busy_retries,
    })
}

impl AstCache for TimedCache {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn get(&self, key: &CacheKey, source: &SourceMeta) -> Result<Lookup, CacheError> {
        let started = Instant::now();
        let result = self.inner.get(key, source);
        metrics::record_op("get", started, Instant::now());
        result
    }
    fn put(
        &self,
        key: &CacheKey,
        source: &SourceMeta,
        value: &SymbolTable,
    ) -> Result<PutOutcome, CacheError> {
        let started = Instant::now();
        let result = self.inner.put(key, source, value);
        metrics::record_op("put", started, Instant::now());
        result
    }
    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        self.inner.delete(key)
    }
    fn clear(&self) -> Result<u64, CacheError> {
        self.inner.clear()
    }
    fn stats(&self) -> Result<CacheStats, CacheError> {
        self.inner.stats()
    }
    fn check(&self, full: bool) -> Result<CheckReport, CacheError> {
        self.inner.check(full)
    }
    fn gc(&self) -> Result<GcReport, CacheError> {
        self.inner.gc()
    }
    fn maintain(&self, task: &Maintenance) -> Result<Option<String>, CacheError> {
        self.inner.maintain(task)
    }
}

impl AstCache for CountingCache {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn get(&self, key: &CacheKey, source: &SourceMeta) -> Result<Lookup, CacheError> {
        let counts = &self.counts;
        CacheCounts::add(&counts.gets, 1);
        let result = self.inner.get(key, source);
        match &result {
            Ok(Lookup::Hit(_)) => CacheCounts::add(&counts.hits, 1),
            Ok(Lookup::Miss(reason)) => {
                CacheCounts::add(&counts.misses, 1);
                match reason {
                    MissReason::Stale => CacheCounts::add(&counts.stale, 1),
                    MissReason::LockTimeout => CacheCounts::add(&counts.lock_timeouts, 1),
                    MissReason::CorruptionRecovered => CacheCounts::add(&counts.recovered, 1),
                    _ => {}
                }
            }
            Err(_) => CacheCounts::add(&counts.errors, 1),
        }
        result
    }
    fn put(
        &self,
        key: &CacheKey,
        source: &SourceMeta,
        value: &SymbolTable,
    ) -> Result<PutOutcome, CacheError> {
        let counts = &self.counts;
        CacheCounts::add(&counts.puts, 1);
        let result = self.inner.put(key, source, value);
        match &result {
            Ok(outcome) => {
                if outcome.evicted > 0 {
                    CacheCounts::add(&counts.evict_events, 1);
                    CacheCounts::add(&counts.evictions, outcome.evicted);
                }
                if outcome.skipped == Some(MissReason::LockTimeout) {
                    CacheCounts::add(&counts.lock_timeouts, 1);
                }
            }
            Err(_) => CacheCounts::add(&counts.errors, 1),
        }
        result
    }
    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        self.inner.delete(key)
    }
    fn clear(&self) -> Result<u64, CacheError> {
        self.inner.clear()
    }
    fn stats(&self) -> Result<CacheStats, CacheError> {
        self.inner.stats()
    }
    fn check(&self, full: bool) -> Result<CheckReport, CacheError> {
        self.inner.check(full)
    }
    fn gc(&self) -> Result<GcReport, CacheError> {
        self.inner.gc()
    }
    fn maintain(&self, task: &Maintenance) -> Result<Option<String>, CacheError> {
        self.inner.maintain(task)
    }
}
