//! The flock layer: shared lock around operations, exclusive around maintenance.

use std::sync::Arc;
use std::time::Duration;

use super::filelock::{CacheLock, LockError, LockGuard, LockMode};
use super::{
    AstCache, CacheError, CacheKey, CacheStats, CheckReport, GcReport, Lookup, Maintenance,
    MissReason, PutOutcome, SourceMeta,
};
use crate::symbols::SymbolTable;
use crate::telemetry::Telemetry;

/// Timeouts of the lock layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockConfig {
    /// How long an operation waits for the lock before it degrades to uncached.
    pub timeout: Duration,
    /// Waits at least this long emit `ast.cache.lock_wait`.
    pub wait_threshold: Duration,
}

impl Default for LockConfig {
    fn default() -> Self {
        LockConfig {
            timeout: Duration::from_secs(2),
            wait_threshold: Duration::from_millis(1),
        }
    }
}

/// Called with every contended lock acquisition's wait, timeouts included (the soak records
/// them in a histogram). An uncontended acquisition is not a wait, however long preemption
/// made it.
pub type WaitObserver = Arc<dyn Fn(LockMode, Duration) + Send + Sync>;

/// Wraps a cache with the shared/exclusive file lock.
pub struct LockedCache {
    inner: Box<dyn AstCache>,
    lock: CacheLock,
    config: LockConfig,
    telemetry: Telemetry,
    observer: Option<WaitObserver>,
}

impl LockedCache {
    /// `inner` guarded by `lock`.
    pub fn new(
        inner: Box<dyn AstCache>,
        lock: CacheLock,
        config: LockConfig,
        telemetry: Telemetry,
    ) -> Self {
        LockedCache {
            inner,
            lock,
            config,
            telemetry,
            observer: None,
        }
    }

    /// Reports every wait to `observer`.
    pub fn with_wait_observer(mut self, observer: WaitObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    fn acquire(&self, mode: LockMode, op: &'static str) -> Result<LockGuard<'_>, CacheError> {
        match self.lock.acquire(mode, self.config.timeout) {
            Ok(guard) => {
                if guard.contended {
                    self.report_wait(mode, op, guard.waited);
                }
                Ok(guard)
            }
            Err(LockError::Timeout { waited }) => {
                self.report_wait(mode, op, waited);
                self.event("ast.cache.lock_timeout", mode, op, waited);
                Err(CacheError::LockTimeout {
                    path: self.lock.path().to_path_buf(),
                    waited_ms: waited.as_millis() as u64,
                })
            }
            Err(LockError::Io(err)) => Err(CacheError::io(self.lock.path(), err)),
        }
    }

    fn report_wait(&self, mode: LockMode, op: &'static str, waited: Duration) {
        if let Some(observer) = &self.observer {
            observer(mode, waited);
        }
        if waited >= self.config.wait_threshold {
            self.event("ast.cache.lock_wait", mode, op, waited);
        }
    }

    fn event(&self, cmd: &'static str, mode: LockMode, op: &'static str, waited: Duration) {
        self.telemetry.emit_timed(cmd, waited, |e| {
            e.arg("mode", mode.as_str())
                .arg("op", op)
                .result("backend", self.inner.backend())
                .result("segment_id", self.telemetry.segment_id());
        });
    }

    /// Runs `op` under the shared lock. When the backend asks for maintenance (corruption,
    /// migration), runs it under the exclusive lock and retries once. The flag says whether a
    /// corrupt database was recovered on the way.
    fn run<T>(
        &self,
        name: &'static str,
        op: impl Fn(&dyn AstCache) -> Result<T, CacheError>,
    ) -> Result<(T, bool), CacheError> {
        let first = {
            let _guard = self.acquire(LockMode::Shared, name)?;
            op(self.inner.as_ref())
        };
        let task = match first {
            Err(err) => match err.maintenance() {
                Some(task) => task,
                None => return Err(err),
            },
            Ok(value) => return Ok((value, false)),
        };
        self.maintain_exclusive(&task, name)?;
        let _guard = self.acquire(LockMode::Shared, name)?;
        let recovered = matches!(task, Maintenance::Recover { .. });
        op(self.inner.as_ref()).map(|value| (value, recovered))
    }

    fn maintain_exclusive(
        &self,
        task: &Maintenance,
        name: &'static str,
    ) -> Result<Option<String>, CacheError> {
        let _guard = self.acquire(LockMode::Exclusive, name)?;
        self.inner.maintain(task)
    }
}

impl AstCache for LockedCache {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn get(&self, key: &CacheKey, source: &SourceMeta) -> Result<Lookup, CacheError> {
        match self.run("get", |c| c.get(key, source)) {
            Ok((Lookup::Miss(_), true)) => Ok(Lookup::Miss(MissReason::CorruptionRecovered)),
            Ok((lookup, _)) => Ok(lookup),
            Err(CacheError::LockTimeout { .. }) => Ok(Lookup::Miss(MissReason::LockTimeout)),
            Err(err) => Err(err),
        }
    }

    fn put(
        &self,
        key: &CacheKey,
        source: &SourceMeta,
        value: &SymbolTable,
    ) -> Result<PutOutcome, CacheError> {
        match self.run("put", |c| c.put(key, source, value)) {
            Ok((outcome, _)) => Ok(outcome),
            Err(CacheError::LockTimeout { .. }) => Ok(PutOutcome {
                skipped: Some(MissReason::LockTimeout),
                ..PutOutcome::default()
            }),
            Err(err) => Err(err),
        }
    }

    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        self.run("delete", |c| c.delete(key)).map(|(v, _)| v)
    }

    fn clear(&self) -> Result<u64, CacheError> {
        let _guard = self.acquire(LockMode::Exclusive, "clear")?;
        self.inner.clear()
    }

    fn stats(&self) -> Result<CacheStats, CacheError> {
        self.run("stats", |c| c.stats()).map(|(v, _)| v)
    }

    fn check(&self, full: bool) -> Result<CheckReport, CacheError> {
        self.run("check", |c| c.check(full)).map(|(v, _)| v)
    }

    fn gc(&self) -> Result<GcReport, CacheError> {
        self.run("gc", |c| c.gc()).map(|(v, _)| v)
    }

    fn maintain(&self, task: &Maintenance) -> Result<Option<String>, CacheError> {
        self.maintain_exclusive(task, "maintain")
    }
}
