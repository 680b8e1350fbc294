//! The audit report: data model and renderers.
//!
//! [`write_all`] writes the whole report set into one directory: the Markdown report, its JSON
//! twin and two SVG charts the Markdown links to by relative file name. Every file is written to a
//! temporary name and renamed into place, so a reader never sees half a report.

pub mod baseline;
pub mod format;
pub mod markdown;
pub mod model;
pub mod svg;

use anyhow::{Context, Result};
use model::SoakReport;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The Markdown audit report.
pub const MARKDOWN_FILE: &str = "ast_soak_run.md";
/// The JSON twin of the Markdown report (the serialised [`SoakReport`]).
pub const JSON_FILE: &str = "ast_soak_run.json";
/// Latency percentiles per operation type.
pub const LATENCY_SVG: &str = "ast_soak_latency.svg";
/// Database size over time.
pub const GROWTH_SVG: &str = "ast_soak_db_growth.svg";

/// Writes the report set into `dir` (created if needed) and returns the paths written, Markdown
/// last so the charts and JSON it refers to are in place when it appears.
pub fn write_all(report: &SoakReport, dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create report directory {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report).context("cannot serialise the report")?;
    let files = [
        (JSON_FILE, json + "\n"),
        (LATENCY_SVG, svg::latency_bars(report)),
        (GROWTH_SVG, svg::growth_line(&report.database.samples)),
        (MARKDOWN_FILE, markdown::render(report)),
    ];
    let mut written = Vec::with_capacity(files.len());
    for (name, contents) in files {
        let path = dir.join(name);
        write_atomic(&path, contents.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// Checks, before a run starts, that reports can be written to `dir`: creates it if needed, then
/// creates and removes a temporary file there.
pub fn check_writable(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create report directory {}", dir.display()))?;
    tempfile::Builder::new()
        .prefix(".soak-write-check")
        .tempfile_in(dir)
        .with_context(|| format!("report directory {} is not writable", dir.display()))?
        .close()
        .with_context(|| format!("cannot remove a test file in {}", dir.display()))
}

/// Writes `contents` to a temporary file next to `path`, syncs it, and renames it over `path`.
fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = temp_name(path);
    let result = write_and_rename(&tmp, path, contents);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

fn write_and_rename(tmp: &Path, path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)
}

/// A hidden sibling name unique to this process and call: `.ast_soak_run.md.tmp-<pid>-<n>`.
fn temp_name(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map_or_else(|| "report".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Entries of a per-operation map in report order (see [`op_order`]).
pub fn ordered<V>(map: &BTreeMap<String, V>) -> Vec<(&str, &V)> {
    let mut entries: Vec<(&str, &V)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
    entries.sort_by_key(|(op, _)| op_order(op));
    entries
}

/// Sort key for operation types: the known ones first, in [`crate::slo::LATENCY_OPS`] order,
/// then any others alphabetically.
pub fn op_order(op: &str) -> (usize, &str) {
    let rank = crate::slo::LATENCY_OPS
        .iter()
        .position(|known| *known == op)
        .unwrap_or(usize::MAX);
    (rank, op)
}
