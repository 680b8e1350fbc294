//! A code segment: the directory whose files are cached together.

use std::path::{Component, Path, PathBuf};

/// Directory (under the segment) that holds the cache files.
pub const CACHE_DIR: &str = ".trifecta/cache";
/// Stem of the cache files: `ast_cache_<id>.db` and `ast_cache_<id>.lock`. The id names the
/// extractor's language, not the path, so moving the segment keeps the cache.
pub const CACHE_STEM: &str = "ast_cache_python";

/// A resolved segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Canonical absolute path.
    pub root: PathBuf,
    /// 8 hex characters of SHA-256 over the canonical path.
    pub id: String,
}

/// Why a segment could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("segment directory not found: {0}")]
    NotFound(String),
    #[error("segment path is not a directory: {0}")]
    NotADirectory(String),
}

impl Segment {
    /// Resolves `dir` to its canonical path.
    pub fn open(dir: &Path) -> Result<Self, SegmentError> {
        let root = dir
            .canonicalize()
            .map_err(|_| SegmentError::NotFound(dir.display().to_string()))?;
        if !root.is_dir() {
            return Err(SegmentError::NotADirectory(dir.display().to_string()));
        }
        let id = crate::telemetry::segment_id(&root);
        Ok(Segment { root, id })
    }

    /// `<segment>/.trifecta/cache`.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(CACHE_DIR)
    }

    /// The SQLite database file.
    pub fn db_path(&self) -> PathBuf {
        self.cache_dir().join(format!("{CACHE_STEM}.db"))
    }

    /// The lock file.
    pub fn lock_path(&self) -> PathBuf {
        self.cache_dir().join(format!("{CACHE_STEM}.lock"))
    }

    /// `path` relative to the segment with `/` separators, if it is inside it.
    pub fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = rel
            .components()
            .map(|c| match c {
                Component::Normal(part) => part.to_str(),
                _ => None,
            })
            .collect();
        let parts = parts?;
        (!parts.is_empty()).then(|| parts.join("/"))
    }
}
