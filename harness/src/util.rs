//! Small helpers: JSON files, clocks, sleeping, memory.

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Reads a JSON file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Writes JSON to a temporary file and renames it into place.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut temp, value)?;
    temp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Unix time in nanoseconds.
pub fn unix_now_ns() -> i128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos()
}

/// The `Instant` that corresponds to a Unix time in nanoseconds (shared time origin).
pub fn instant_of_unix_ns(unix_ns: i128) -> Instant {
    let now = Instant::now();
    let ago = (unix_now_ns() - unix_ns).max(0) as u64;
    now.checked_sub(Duration::from_nanos(ago)).unwrap_or(now)
}

/// Sleeps `duration` in short steps, returning early when `flag` is set.
pub fn sleep_unless(flag: &AtomicBool, duration: Duration) {
    let until = Instant::now() + duration;
    loop {
        if flag.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(20)));
    }
}

/// Resident memory of this process in KiB (Linux `/proc/self/statm`).
pub fn resident_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(1) as u64 / 1024)
}

/// Caps glibc's malloc arenas at two. With one arena per thread, transient allocations of
/// concurrent searches leave tens of MB resident in idle arenas; capped, a worker's memory
/// stays flat (the soak reports it).
pub fn limit_malloc_arenas() {
    // SAFETY: mallopt only adjusts allocator parameters; called before the worker's threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
