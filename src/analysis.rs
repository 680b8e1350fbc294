//! Symbols of one file through the cache: read, key, look up, parse on a miss, store.
//!
//! This is the one path shared by `trifecta ast symbols`, `trifecta ctx search` and the soak
//! harness's library operations.

use serde::Serialize;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::cache::{AstCache, CacheKey, CacheStack, Lookup, MissReason, SourceMeta};
use crate::segment::Segment;
use crate::symbols::{self, SymbolTable};

/// Default cap on the size of a source file (`TRIFECTA_MAX_FILE_BYTES` overrides).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Environment variable overriding the size cap.
pub const ENV_MAX_FILE_BYTES: &str = "TRIFECTA_MAX_FILE_BYTES";
/// Bytes inspected for NUL to decide that a file is binary.
const BINARY_SNIFF_BYTES: usize = 8192;

/// `hit`, `miss` or `stale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    Hit,
    Miss,
    Stale,
}

/// The symbols of one file and how the cache answered.
#[derive(Debug, Clone)]
pub struct FileSymbols {
    pub file_rel: String,
    pub key: CacheKey,
    pub table: Arc<SymbolTable>,
    pub status: CacheStatus,
    /// `cache_hit`, `cold_cache_db_missing`, `key_miss`, `stale`, `ephemeral_cache`,
    /// `lock_timeout`, `corruption_recovered`, `damaged_entry` or `cache_error`.
    pub miss_reason: &'static str,
    /// The raw bytes that were parsed or looked up.
    pub source: Vec<u8>,
    /// Problems with the cache that did not stop the answer.
    pub warnings: Vec<String>,
}

/// Why a file could not be analysed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("file not found: {0}")]
    NotFound(String),
    #[error("not a Python file: {0}")]
    NotPython(String),
    #[error("{file} is {size} bytes, over the limit of {max} bytes")]
    TooLarge { file: String, size: u64, max: u64 },
    #[error("could not read {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

/// Reads, looks up and parses files of one segment through one cache stack.
pub struct Analyzer {
    pub segment: Segment,
    pub stack: CacheStack,
    pub max_file_bytes: u64,
}

impl Analyzer {
    /// An analyzer with the size cap from the environment (or the default).
    pub fn new(segment: Segment, stack: CacheStack) -> Self {
        let max_file_bytes = std::env::var(ENV_MAX_FILE_BYTES)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
            .unwrap_or(DEFAULT_MAX_FILE_BYTES);
        Analyzer {
            segment,
            stack,
            max_file_bytes,
        }
    }

    /// The cache.
    pub fn cache(&self) -> &dyn AstCache {
        self.stack.cache.as_ref()
    }

    /// Symbols of the file at `path` (absolute, inside the segment).
    pub fn symbols(&self, path: &Path) -> Result<FileSymbols, AnalyzeError> {
        let file_rel = self.segment.relative(path).ok_or_else(|| {
            AnalyzeError::NotFound(format!("{} is outside the segment", path.display()))
        })?;
        let (source, meta) = self.read_source(path, &file_rel)?;
        if looks_binary(&source) {
            return Err(AnalyzeError::NotPython(format!(
                "{file_rel} contains NUL bytes (binary content)"
            )));
        }
        let key = CacheKey::new(&file_rel, &source);
        let mut warnings = Vec::new();
        let lookup = match self.cache().get(&key, &meta) {
            Ok(lookup) => lookup,
            Err(err) => {
                warnings.push(format!("cache lookup failed: {err}"));
                Lookup::Miss(MissReason::KeyMiss)
            }
        };
        let reason = match lookup {
            Lookup::Hit(table) => {
                return Ok(FileSymbols {
                    file_rel,
                    key,
                    table,
                    status: CacheStatus::Hit,
                    miss_reason: "cache_hit",
                    source,
                    warnings,
                });
            }
            Lookup::Miss(reason) => reason,
        };
        let table = symbols::extract(&source);
        if let Err(err) = self.cache().put(&key, &meta, &table) {
            warnings.push(format!("cache write failed: {err}"));
        }
        Ok(FileSymbols {
            file_rel,
            key,
            table: Arc::new(table),
            status: if reason == MissReason::Stale {
                CacheStatus::Stale
            } else {
                CacheStatus::Miss
            },
            miss_reason: self.miss_reason(reason, !warnings.is_empty()),
            source,
            warnings,
        })
    }

    fn miss_reason(&self, reason: MissReason, cache_failed: bool) -> &'static str {
        if !self.stack.persistent {
            return "ephemeral_cache";
        }
        match reason {
            MissReason::KeyMiss if cache_failed => "cache_error",
            MissReason::KeyMiss if !self.stack.db_existed => "cold_cache_db_missing",
            MissReason::KeyMiss => "key_miss",
            MissReason::Stale => "stale",
            MissReason::Damaged => "damaged_entry",
            MissReason::LockTimeout => "lock_timeout",
            MissReason::CorruptionRecovered => "corruption_recovered",
        }
    }

    /// Reads at most the size cap; the metadata is taken before the content, so a file that
    /// changes meanwhile is at worst a stale entry later, never a wrong one (the key hashes
    /// the bytes read).
    fn read_source(
        &self,
        path: &Path,
        file_rel: &str,
    ) -> Result<(Vec<u8>, SourceMeta), AnalyzeError> {
        let read_error = |source| AnalyzeError::Read {
            file: file_rel.to_string(),
            source,
        };
        let meta =
            std::fs::metadata(path).map_err(|_| AnalyzeError::NotFound(file_rel.to_string()))?;
        if meta.is_dir() {
            return Err(AnalyzeError::NotPython(format!(
                "{file_rel} is a directory"
            )));
        }
        if !meta.is_file() {
            return Err(AnalyzeError::NotPython(format!(
                "{file_rel} is not a regular file"
            )));
        }
        if meta.len() > self.max_file_bytes {
            return Err(self.too_large(file_rel, meta.len()));
        }
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut source = Vec::with_capacity(meta.len() as usize);
        file.take(self.max_file_bytes + 1)
            .read_to_end(&mut source)
            .map_err(read_error)?;
        if source.len() as u64 > self.max_file_bytes {
            return Err(self.too_large(file_rel, source.len() as u64));
        }
        Ok((source, SourceMeta::from_metadata(&meta)))
    }

    fn too_large(&self, file_rel: &str, size: u64) -> AnalyzeError {
        AnalyzeError::TooLarge {
            file: file_rel.to_string(),
            size,
            max: self.max_file_bytes,
        }
    }
}

/// A NUL byte near the start means binary content (CPython refuses such source too).
pub fn looks_binary(source: &[u8]) -> bool {
    source[..source.len().min(BINARY_SNIFF_BYTES)].contains(&0)
}
