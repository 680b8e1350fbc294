//! Damaging the cache database in each mode, under the cache's exclusive lock (so no
//! operation is half-way through when the damage lands).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use trifecta::cache::filelock::{CacheLock, LockMode};
use trifecta::segment::Segment;

/// SQLite's page size in the cache database.
const PAGE: u64 = 4096;

/// The ways the database is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorruptMode {
    /// The file cut to half its length.
    Truncated,
    /// The first 100 bytes (the SQLite header) overwritten with garbage.
    Header,
    /// Random pages after the first overwritten with garbage.
    GarbagePages,
    /// The WAL file overwritten with garbage.
    GarbageWal,
    /// The file truncated to zero bytes.
    ZeroLength,
    /// The file replaced by a text file.
    NotSqlite,
}

impl CorruptMode {
    /// Every mode, injected in turn.
    pub const ALL: [CorruptMode; 6] = [
        CorruptMode::Truncated,
        CorruptMode::Header,
        CorruptMode::GarbagePages,
        CorruptMode::GarbageWal,
        CorruptMode::ZeroLength,
        CorruptMode::NotSqlite,
    ];

    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CorruptMode::Truncated => "truncated",
            CorruptMode::Header => "header",
            CorruptMode::GarbagePages => "garbage_pages",
            CorruptMode::GarbageWal => "garbage_wal",
            CorruptMode::ZeroLength => "zero_length",
            CorruptMode::NotSqlite => "not_sqlite",
        }
    }
}

fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn garbage(rng: &mut fastrand::Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.u8(..)).collect()
}

/// Damages the database of `segment` in `mode` while holding the exclusive cache lock.
pub fn inject(segment: &Segment, mode: CorruptMode, rng: &mut fastrand::Rng) -> anyhow::Result<()> {
    let lock = CacheLock::new(segment.lock_path());
    let _guard = lock
        .acquire(LockMode::Exclusive, Duration::from_secs(10))
        .map_err(|e| anyhow::anyhow!("taking the cache lock to inject {}: {e:?}", mode.as_str()))?;
    let db = segment.db_path();
    match mode {
        CorruptMode::Truncated => {
            let len = std::fs::metadata(&db)?.len();
            set_len(&db, (len / 2).max(PAGE))
        }
        CorruptMode::Header => overwrite(&db, 0, &garbage(rng, 100)),
        CorruptMode::GarbagePages => {
            let pages = std::fs::metadata(&db)?.len() / PAGE;
            for _ in 0..3.min(pages.saturating_sub(1)) {
                let page = rng.u64(1..pages);
                overwrite(&db, page * PAGE, &garbage(rng, PAGE as usize))?;
            }
            Ok(())
        }
        CorruptMode::GarbageWal => {
            let wal = sidecar(&db, "-wal");
            let len = std::fs::metadata(&wal).map_or(0, |m| m.len());
            overwrite(&wal, 0, &garbage(rng, len.clamp(PAGE, 8 * PAGE) as usize))
        }
        CorruptMode::ZeroLength => set_len(&db, 0),
        CorruptMode::NotSqlite => {
            let temp = sidecar(&db, ".not-sqlite");
            std::fs::write(&temp, "this is not a database\n".repeat(200))?;
            std::fs::rename(&temp, &db).context("replacing the database with a text file")
        }
    }
}

fn set_len(path: &Path, len: u64) -> anyhow::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    Ok(())
}

fn overwrite(path: &Path, offset: u64, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)?;
    Ok(())
}
