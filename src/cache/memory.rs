//! In-process LRU cache bounded by entry count and bytes.

use lru::LruCache;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{
    AstCache, CacheError, CacheKey, CacheStats, CheckReport, GcReport, Lookup, MissReason,
    PutOutcome, SourceMeta,
};
use crate::symbols::SymbolTable;

/// Limits of a [`MemoryCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    pub max_entries: u64,
    pub max_bytes: u64,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        MemoryLimits {
            max_entries: 10_000,
            max_bytes: 100 * 1024 * 1024,
        }
    }
}

struct Entry {
    value: Arc<SymbolTable>,
    source: SourceMeta,
    file_rel: String,
    bytes: u64,
}

#[derive(Default)]
struct Counters {
    hits: u64,
    misses: u64,
    stale: u64,
    writes: u64,
    evictions: u64,
}

struct State {
    lru: LruCache<String, Entry>,
    /// file_rel -> the key currently stored for that file.
    by_file: HashMap<String, String>,
    bytes: u64,
    counters: Counters,
}

impl State {
    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.lru.pop(key)?;
        self.forget(key, &entry);
        Some(entry)
    }

    fn forget(&mut self, key: &str, entry: &Entry) {
        self.bytes -= entry.bytes;
        if self.by_file.get(&entry.file_rel).is_some_and(|k| k == key) {
            self.by_file.remove(&entry.file_rel);
        }
    }

    fn pop_lru(&mut self) -> bool {
        match self.lru.pop_lru() {
            Some((key, entry)) => {
                self.forget(&key, &entry);
                true
            }
            None => false,
        }
    }
}

/// LRU cache in memory: O(1) get and put, exact byte accounting, bounded eviction.
pub struct MemoryCache {
    limits: MemoryLimits,
    state: Mutex<State>,
}

impl MemoryCache {
    /// A cache with `limits`; `max_entries = 0` or `max_bytes = 0` is a configuration error.
    pub fn new(limits: MemoryLimits) -> Result<Self, CacheError> {
        if limits.max_entries == 0 {
            return Err(CacheError::Config("max_entries must be at least 1".into()));
        }
        if limits.max_bytes == 0 {
            return Err(CacheError::Config("max_bytes must be at least 1".into()));
        }
        Ok(MemoryCache {
            limits,
            state: Mutex::new(State {
                lru: LruCache::unbounded(),
                by_file: HashMap::new(),
                bytes: 0,
                counters: Counters::default(),
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Bytes an entry is charged for: its key and strings plus fixed per-record overheads.
pub fn entry_bytes(key: &CacheKey, value: &SymbolTable) -> u64 {
    const SYMBOL_OVERHEAD: usize = 16;
    const ENTRY_OVERHEAD: usize = 64;
    let symbols: usize = value
        .symbols
        .iter()
        .map(|s| s.name.len() + s.qualname.len() + SYMBOL_OVERHEAD)
        .sum();
    (key.as_str().len() + key.file_rel().len() + symbols + ENTRY_OVERHEAD) as u64
}

impl AstCache for MemoryCache {
    fn backend(&self) -> &'static str {
        "MemoryCache"
    }

    fn get(&self, key: &CacheKey, source: &SourceMeta) -> Result<Lookup, CacheError> {
        let mut state = self.state();
        let found = state
            .lru
            .get(key.as_str())
            .map(|e| (e.source == *source, e.value.clone()));
        let lookup = match found {
            Some((true, value)) => Lookup::Hit(value),
            Some((false, _)) => {
                state.remove(key.as_str());
                Lookup::Miss(MissReason::Stale)
            }
            None if state.by_file.contains_key(key.file_rel()) => Lookup::Miss(MissReason::Stale),
            None => Lookup::Miss(MissReason::KeyMiss),
        };
        match lookup {
            Lookup::Hit(_) => state.counters.hits += 1,
            Lookup::Miss(reason) => {
                state.counters.misses += 1;
                if reason == MissReason::Stale {
                    state.counters.stale += 1;
                }
            }
        }
        Ok(lookup)
    }

    fn put(
        &self,
        key: &CacheKey,
        source: &SourceMeta,
        value: &SymbolTable,
    ) -> Result<PutOutcome, CacheError> {
        let bytes = entry_bytes(key, value);
        if bytes > self.limits.max_bytes {
            return Err(CacheError::ValueTooLarge {
                size: bytes,
                max: self.limits.max_bytes,
            });
        }
        let mut state = self.state();
        let mut outcome = PutOutcome {
            written: true,
            ..PutOutcome::default()
        };
        state.remove(key.as_str());
        if let Some(old_key) = state.by_file.get(key.file_rel()).cloned()
            && state.remove(&old_key).is_some()
        {
            outcome.replaced_stale = 1;
        }
        state.lru.push(
            key.as_str().to_string(),
            Entry {
                value: Arc::new(value.clone()),
                source: *source,
                file_rel: key.file_rel().to_string(),
                bytes,
            },
        );
        state.bytes += bytes;
        state
            .by_file
            .insert(key.file_rel().to_string(), key.as_str().to_string());
        while (state.lru.len() as u64 > self.limits.max_entries
            || state.bytes > self.limits.max_bytes)
            && state.pop_lru()
        {
            outcome.evicted += 1;
        }
        state.counters.writes += 1;
        state.counters.evictions += outcome.evicted;
        Ok(outcome)
    }

    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        Ok(self.state().remove(key.as_str()).is_some())
    }

    fn clear(&self) -> Result<u64, CacheError> {
        let mut state = self.state();
        let removed = state.lru.len() as u64;
        state.lru.clear();
        state.by_file.clear();
        state.bytes = 0;
        Ok(removed)
    }

    fn stats(&self) -> Result<CacheStats, CacheError> {
        let state = self.state();
        let c = &state.counters;
        Ok(CacheStats {
            backend: self.backend().to_string(),
            entries: state.lru.len() as u64,
            bytes: state.bytes,
            hits: c.hits,
            misses: c.misses,
            stale: c.stale,
            writes: c.writes,
            evictions: c.evictions,
            max_entries: self.limits.max_entries,
            max_bytes: self.limits.max_bytes,
            ..CacheStats::default()
        }
        .with_hit_rate())
    }

    fn check(&self, _full: bool) -> Result<CheckReport, CacheError> {
        Ok(CheckReport {
            result: "ok".into(),
            ok: true,
            quarantined_to: None,
        })
    }

    fn gc(&self) -> Result<GcReport, CacheError> {
        Ok(GcReport::default())
    }

    fn maintain(&self, _task: &super::Maintenance) -> Result<Option<String>, CacheError> {
        Ok(None)
    }
}
