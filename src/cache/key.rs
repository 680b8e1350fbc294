//! Cache keys: relative path + content hash + version.

use std::fmt;

/// Version of everything a cached value depends on: the extractor rules, the tree-sitter
/// grammar and the value schema. Bump it and every old entry misses.
pub const CACHE_VERSION: u32 = 1;

/// A cache key. Built from the path relative to the segment, so moving the segment keeps
/// every entry valid, and from a hash of the raw bytes, so any edit is a new key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    text: String,
    file_rel: String,
}

impl CacheKey {
    /// Key for `content` of the file at `file_rel` (segment-relative, `/`-separated).
    pub fn new(file_rel: &str, content: &[u8]) -> Self {
        let hash = blake3::hash(content);
        let short = &hash.to_hex()[..32];
        CacheKey {
            text: format!("ast:v{CACHE_VERSION}:{file_rel}:{short}"),
            file_rel: file_rel.to_string(),
        }
    }

    /// The key as stored and logged.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The segment-relative file path this key belongs to.
    pub fn file_rel(&self) -> &str {
        &self.file_rel
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The source file as it was when its entry was written: a mismatch is a `stale` miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceMeta {
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    pub size: u64,
}

impl SourceMeta {
    /// Reads mtime and size from file metadata.
    pub fn from_metadata(meta: &std::fs::Metadata) -> Self {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        SourceMeta {
            mtime_ns,
            size: meta.len(),
        }
    }
}
