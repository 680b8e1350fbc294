//! The telemetry layer: one `ast.cache.*` event per operation.

use std::time::{Duration, Instant};

use super::{
    AstCache, CacheError, CacheKey, CacheStats, CheckReport, GcReport, Lookup, Maintenance,
    MissReason, PutOutcome, SourceMeta,
};
use crate::symbols::SymbolTable;
use crate::telemetry::{Event, Telemetry};

/// Emits `ast.cache.hit|miss|stale|write|evict|delete|clear` around the wrapped cache.
///
/// Every `get` emits exactly one of `hit`, `stale` or `miss` (errors are misses with
/// `args.reason = "error"`), so telemetry can be reconciled with the operations.
pub struct InstrumentedCache {
    inner: Box<dyn AstCache>,
    telemetry: Telemetry,
}

impl InstrumentedCache {
    /// `inner` with telemetry.
    pub fn new(inner: Box<dyn AstCache>, telemetry: Telemetry) -> Self {
        InstrumentedCache { inner, telemetry }
    }

    fn emit(
        &self,
        cmd: &'static str,
        key: Option<&CacheKey>,
        elapsed: Duration,
        fill: impl FnOnce(&mut Event),
    ) {
        self.telemetry.emit_timed(cmd, elapsed, |e| {
            if let Some(key) = key {
                e.arg("cache_key", key.as_str());
            }
            e.result("backend", self.inner.backend())
                .result("segment_id", self.telemetry.segment_id());
            fill(e);
        });
    }
}

impl AstCache for InstrumentedCache {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn get(&self, key: &CacheKey, source: &SourceMeta) -> Result<Lookup, CacheError> {
        let started = Instant::now();
        let result = self.inner.get(key, source);
        let elapsed = started.elapsed();
        match &result {
            Ok(Lookup::Hit(_)) => self.emit("ast.cache.hit", Some(key), elapsed, |_| {}),
            Ok(Lookup::Miss(MissReason::Stale)) => {
                self.emit("ast.cache.stale", Some(key), elapsed, |e| {
                    e.arg("reason", MissReason::Stale.as_str());
                })
            }
            Ok(Lookup::Miss(reason)) => self.emit("ast.cache.miss", Some(key), elapsed, |e| {
                e.arg("reason", reason.as_str());
            }),
            Err(err) => self.emit("ast.cache.miss", Some(key), elapsed, |e| {
                e.arg("reason", "error");
                e.warnings.push(err.redacted());
            }),
        }
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
        let elapsed = started.elapsed();
        match &result {
            Ok(outcome) => {
                self.emit("ast.cache.write", Some(key), elapsed, |e| {
                    e.result("written", outcome.written)
                        .result("symbols", value.symbols.len());
                    if let Some(reason) = outcome.skipped {
                        e.arg("skipped", reason.as_str());
                    }
                });
                if outcome.evicted > 0 {
                    self.emit("ast.cache.evict", Some(key), Duration::ZERO, |e| {
                        e.result("evicted", outcome.evicted);
                    });
                }
            }
            Err(err) => self.emit("ast.cache.write", Some(key), elapsed, |e| {
                e.result("written", false);
                e.warnings.push(err.redacted());
            }),
        }
        result
    }

    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        let started = Instant::now();
        let result = self.inner.delete(key);
        let existed = matches!(result, Ok(true));
        self.emit("ast.cache.delete", Some(key), started.elapsed(), |e| {
            e.result("existed", existed);
        });
        result
    }

    fn clear(&self) -> Result<u64, CacheError> {
        let started = Instant::now();
        let result = self.inner.clear();
        let removed = *result.as_ref().unwrap_or(&0);
        self.emit("ast.cache.clear", None, started.elapsed(), |e| {
            e.result("removed", removed);
        });
        result
    }

    fn stats(&self) -> Result<CacheStats, CacheError> {
        self.inner.stats()
    }

    fn check(&self, full: bool) -> Result<CheckReport, CacheError> {
        self.inner.check(full)
    }

    fn gc(&self) -> Result<GcReport, CacheError> {
        let started = Instant::now();
        let result = self.inner.gc();
        if let Ok(report) = &result
            && report.expired + report.evicted > 0
        {
            self.emit("ast.cache.evict", None, started.elapsed(), |e| {
                e.result("evicted", report.evicted)
                    .result("expired", report.expired);
            });
        }
        result
    }

    fn maintain(&self, task: &Maintenance) -> Result<Option<String>, CacheError> {
        self.inner.maintain(task)
    }
}
