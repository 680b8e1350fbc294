//! Append-only JSONL file with size-based rotation that is safe across processes.
//!
//! Every line is written with one `write` on an `O_APPEND` descriptor, so lines from many
//! processes never interleave. When the file passes `max_bytes`, one process (holding an
//! exclusive flock on `events.rotate.lock`) renames it to a unique `events-*.jsonl` name; the
//! others notice that their descriptor no longer names `events.jsonl` and reopen. Lines written
//! to a renamed file stay there: nothing is lost and no file is rewritten.

use std::fs::{File, OpenOptions};
use std::io::{Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Name of the live events file.
pub const EVENTS_FILE: &str = "events.jsonl";
const ROTATE_LOCK_FILE: &str = "events.rotate.lock";

/// An open events file.
pub struct JsonlSink {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    max_bytes: u64,
    rotations: u64,
}

impl JsonlSink {
    /// Creates the directory if needed and opens `events.jsonl` for appending.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(EVENTS_FILE);
        let file = open_append(&path)?;
        Ok(JsonlSink {
            dir: dir.to_path_buf(),
            path,
            file,
            max_bytes,
            rotations: 0,
        })
    }

    /// Appends one complete line (the caller includes the trailing newline).
    pub fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.file.write_all(line)?;
        let end = self.file.stream_position()?;
        if end >= self.max_bytes {
            self.rotate_or_follow()?;
        }
        Ok(())
    }

    /// Rotates the file if it is still the live one, else reopens the live one.
    fn rotate_or_follow(&mut self) -> std::io::Result<()> {
        let lock = open_append(&self.dir.join(ROTATE_LOCK_FILE))?;
        lock.lock()?;
        let result = self.rotate_locked();
        let _ = lock.unlock();
        result
    }

    fn rotate_locked(&mut self) -> std::io::Result<()> {
        let ours = self.file.metadata()?;
        let live = std::fs::metadata(&self.path).ok();
        let still_live = live.is_some_and(|m| m.ino() == ours.ino() && m.dev() == ours.dev());
        if still_live && ours.len() >= self.max_bytes {
            self.rotations += 1;
            let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
            let name = format!(
                "events-{stamp}-{}-{}.jsonl",
                std::process::id(),
                self.rotations
            );
            std::fs::rename(&self.path, self.dir.join(name))?;
        }
        if !still_live || ours.len() >= self.max_bytes {
            self.file = open_append(&self.path)?;
        }
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}
