//! Facts about the machine and the build, for the report.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use trifecta::cache::{SqliteCache, SqliteConfig};
use trifecta::telemetry::Telemetry;

use crate::report::model::Environment;

/// Current UTC time, RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Current UTC time, RFC 3339 with milliseconds, in the format of telemetry `ts` (so the two
/// compare as strings).
pub fn now_rfc3339_ms() -> String {
    rfc3339_ms_at(crate::util::unix_now_ns())
}

/// A Unix time in nanoseconds in the format of telemetry `ts`.
pub fn rfc3339_ms_at(unix_ns: i128) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(unix_ns)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Commit, SQLite version, OS and CPUs (pragmas are added after the run).
pub fn describe(started_at: &str) -> Environment {
    Environment {
        commit: git_commit(),
        sqlite_version: rusqlite::version().to_string(),
        pragmas: BTreeMap::new(),
        os: os_description(),
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get() as u32),
        started_at: started_at.to_string(),
        finished_at: String::new(),
        soak_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// The pragmas of a cache connection on `db`, read back from SQLite.
pub fn pragmas(db: &Path) -> BTreeMap<String, String> {
    let cache = SqliteCache::new(
        db.to_path_buf(),
        SqliteConfig::default(),
        Telemetry::disabled(),
    );
    match cache.pragmas() {
        Ok(list) => list.into_iter().collect(),
        Err(err) => BTreeMap::from([("error".to_string(), err.to_string())]),
    }
}

fn git_commit() -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{commit}-dirty")
            } else {
                commit
            }
        }
        None => "unknown (not a git checkout)".into(),
    }
}

fn os_description() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} {} ({})",
        std::env::consts::OS,
        release.trim(),
        std::env::consts::ARCH
    )
}
