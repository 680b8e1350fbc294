use std::path::{Path, PathBuf};

/// Errors of the cache stack.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("invalid cache configuration: {0}")]
    Config(String),
    #[error("value of {size} bytes exceeds the cache limit of {max} bytes")]
    ValueTooLarge { size: u64, max: u64 },
    #[error("cache database {path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("timed out after {waited_ms} ms waiting for the cache lock {path}")]
    LockTimeout { path: PathBuf, waited_ms: u64 },
    #[error("cache database {path} needs a schema migration")]
    NeedsMigration { path: PathBuf },
    #[error("cache database is busy (locked by another writer)")]
    Busy,
    #[error("sqlite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not encode or decode a cache value: {0}")]
    Codec(#[from] postcard::Error),
}

impl CacheError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CacheError::Io {
            path: path.into(),
            source,
        }
    }

    /// The maintenance task this error asks for, if any.
    pub fn maintenance(&self) -> Option<super::Maintenance> {
        match self {
            CacheError::Corrupt { message, .. } => Some(super::Maintenance::Recover {
                reason: message.clone(),
            }),
            CacheError::NeedsMigration { .. } => Some(super::Maintenance::Migrate),
            _ => None,
        }
    }

    /// The file this error concerns, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            CacheError::Corrupt { path, .. }
            | CacheError::LockTimeout { path, .. }
            | CacheError::NeedsMigration { path }
            | CacheError::Io { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The message with the file's name instead of its full path, for telemetry (no absolute
    /// path may appear in an event).
    pub fn redacted(&self) -> String {
        let text = self.to_string();
        match self.path() {
            Some(path) => {
                let name = path
                    .file_name()
                    .map_or_else(|| "<path>".into(), |n| n.to_string_lossy());
                text.replace(path.to_string_lossy().as_ref(), &name)
            }
            None => text,
        }
    }

    /// True for errors that mean the database file is damaged.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, CacheError::Corrupt { .. })
    }
}
