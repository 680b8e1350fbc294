//! Background sampling during the run: database size, and a periodic `quick_check`.

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::metrics;

const SIZE_EVERY: Duration = Duration::from_millis(500);

/// What the samplers saw.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    /// (seconds since the soak started, database + WAL bytes).
    pub db_bytes: Vec<(f64, u64)>,
    /// (seconds since the soak started, quick_check result).
    pub quick_checks: Vec<(f64, String)>,
}

/// The running sampler thread.
pub struct Samplers {
    done: Arc<AtomicBool>,
    samples: Arc<Mutex<Samples>>,
    handle: Option<JoinHandle<()>>,
}

impl Samplers {
    /// Samples `db` every 500 ms and runs `quick_check` every `check_every`.
    pub fn start(db: PathBuf, check_every: Duration) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Samples::default()));
        let (flag, shared) = (done.clone(), samples.clone());
        let handle = std::thread::spawn(move || sample_loop(&db, check_every, &flag, &shared));
        Samplers {
            done,
            samples,
            handle: Some(handle),
        }
    }

    /// Stops sampling and returns what was seen.
    pub fn stop(mut self) -> Samples {
        self.done.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn sample_loop(db: &Path, check_every: Duration, done: &AtomicBool, samples: &Mutex<Samples>) {
    let mut last_check = Instant::now();
    while !done.load(Ordering::Relaxed) {
        let at = metrics::offset_ms(Instant::now()) / 1000.0;
        if let Some(bytes) = db_and_wal_bytes(db) {
            let mut samples = samples.lock().unwrap_or_else(|p| p.into_inner());
            samples.db_bytes.push((at, bytes));
        }
        if last_check.elapsed() >= check_every && db.exists() {
            last_check = Instant::now();
            let result = quick_check(db);
            samples
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .quick_checks
                .push((at, result));
        }
        crate::util::sleep_unless(done, SIZE_EVERY);
    }
}

/// Database plus WAL size, if the database exists.
pub fn db_and_wal_bytes(db: &Path) -> Option<u64> {
    let size = std::fs::metadata(db).ok()?.len();
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    Some(size + std::fs::metadata(PathBuf::from(wal)).map_or(0, |m| m.len()))
}

/// Runs `PRAGMA quick_check` on a read-only connection: `ok` or the problem.
pub fn quick_check(db: &Path) -> String {
    let run = || -> rusqlite::Result<String> {
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let mut stmt = conn.prepare("PRAGMA quick_check")?;
        let lines: Vec<String> = stmt
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(lines.join("; "))
    };
    run().unwrap_or_else(|err| format!("error: {err}"))
}
