//! The interference process: takes the cache's flock exclusive, or SQLite's write lock
//! (`BEGIN IMMEDIATE`), in scheduled windows, and records when each window really held.

use anyhow::Context;
use rusqlite::Connection;
use rusqlite::config::DbConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use trifecta::cache::filelock::{CacheLock, LockMode};
use trifecta::segment::Segment;

use crate::{metrics, signals, util};

/// How long the interferer itself waits to take a lock.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a window holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    /// The cache's file lock, exclusive.
    Flock,
    /// SQLite's write lock (`BEGIN IMMEDIATE`).
    Sqlite,
}

impl WindowKind {
    /// `flock` or `sqlite`.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Flock => "flock",
            WindowKind::Sqlite => "sqlite",
        }
    }
}

/// A window as planned: ms since the soak's epoch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PlannedWindow {
    pub kind: WindowKind,
    pub start_ms: f64,
    pub duration_ms: f64,
}

/// A window as it happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActualWindow {
    pub kind: WindowKind,
    pub start_ms: f64,
    pub end_ms: f64,
    /// False in a dry run or when the lock could not be taken.
    pub held: bool,
    pub error: Option<String>,
}

/// The interferer's instructions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InterferenceSpec {
    pub segment: PathBuf,
    pub epoch_unix_ns: i128,
    pub windows: Vec<PlannedWindow>,
    /// Walk the schedule without taking any lock (for proving that the verdict catches it).
    pub dry_run: bool,
    pub result_path: PathBuf,
}

/// Plans windows from `from_ms` to `until_ms`: every `period_ms`, `length_ms` long,
/// alternating flock and SQLite.
pub fn plan_windows(
    from_ms: f64,
    until_ms: f64,
    period_ms: f64,
    length_ms: f64,
) -> Vec<PlannedWindow> {
    let mut windows = Vec::new();
    let mut start = from_ms + period_ms / 2.0;
    let mut kind = WindowKind::Flock;
    while start + length_ms < until_ms {
        windows.push(PlannedWindow {
            kind,
            start_ms: start,
            duration_ms: length_ms,
        });
        kind = match kind {
            WindowKind::Flock => WindowKind::Sqlite,
            WindowKind::Sqlite => WindowKind::Flock,
        };
        start += period_ms;
    }
    windows
}

/// Entry point of `soak __interfere <spec.json>`.
pub fn run(spec_path: &Path) -> anyhow::Result<()> {
    let spec: InterferenceSpec = util::read_json(spec_path)?;
    let stop = signals::stop_flag()?;
    let epoch = util::instant_of_unix_ns(spec.epoch_unix_ns);
    metrics::init_timeline(metrics::Timeline {
        epoch,
        windows: Vec::new(),
        spike_threshold_us: u64::MAX,
        wait_threshold_us: u64::MAX,
    });
    let segment = Segment::open(&spec.segment)?;
    let mut actual = Vec::new();
    for window in &spec.windows {
        let start_at = epoch + Duration::from_secs_f64(window.start_ms / 1000.0);
        util::sleep_unless(&stop, start_at.saturating_duration_since(Instant::now()));
        if stop.load(Ordering::Relaxed) {
            break;
        }
        actual.push(hold_window(&segment, window, spec.dry_run, &stop));
    }
    util::write_json_atomic(&spec.result_path, &actual)
}

fn hold_window(
    segment: &Segment,
    window: &PlannedWindow,
    dry_run: bool,
    stop: &AtomicBool,
) -> ActualWindow {
    let hold = Duration::from_secs_f64(window.duration_ms / 1000.0);
    let mut record = ActualWindow {
        kind: window.kind,
        start_ms: 0.0,
        end_ms: 0.0,
        held: false,
        error: None,
    };
    let outcome = if dry_run {
        record.start_ms = metrics::offset_ms(Instant::now());
        util::sleep_unless(stop, hold);
        Ok(false)
    } else {
        match window.kind {
            WindowKind::Flock => hold_flock(segment, hold, stop, &mut record.start_ms),
            WindowKind::Sqlite => hold_sqlite(&segment.db_path(), hold, stop, &mut record.start_ms),
        }
    };
    record.end_ms = metrics::offset_ms(Instant::now());
    match outcome {
        Ok(held) => record.held = held,
        Err(err) => record.error = Some(format!("{err:#}")),
    }
    record
}

fn hold_flock(
    segment: &Segment,
    hold: Duration,
    stop: &AtomicBool,
    start_ms: &mut f64,
) -> anyhow::Result<bool> {
    let lock = CacheLock::new(segment.lock_path());
    let _guard = lock
        .acquire(LockMode::Exclusive, ACQUIRE_TIMEOUT)
        .map_err(|e| anyhow::anyhow!("taking the cache lock exclusive: {e:?}"))?;
    *start_ms = metrics::offset_ms(Instant::now());
    util::sleep_unless(stop, hold);
    Ok(true)
}

fn hold_sqlite(
    db: &Path,
    hold: Duration,
    stop: &AtomicBool,
    start_ms: &mut f64,
) -> anyhow::Result<bool> {
    let conn = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    conn.busy_timeout(ACQUIRE_TIMEOUT)?;
    conn.execute_batch("BEGIN IMMEDIATE")
        .context("BEGIN IMMEDIATE")?;
    *start_ms = metrics::offset_ms(Instant::now());
    util::sleep_unless(stop, hold);
    conn.execute_batch("ROLLBACK")?;
    Ok(true)
}
