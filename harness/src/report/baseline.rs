//! Comparison with a previous run's JSON report.

use super::model::{BaselineComparison, BaselineRow, SoakReport};
use crate::slo;
use anyhow::{Context, Result};
use std::io::ErrorKind;
use std::path::Path;

/// The metrics compared, by SLO metric name (so values format the same way as in the verdict).
pub const COMPARED_METRICS: [&str; 10] = [
    "ops_per_second",
    "get.p95",
    "get.p99",
    "symbols.p95",
    "symbols.p99",
    "cli.p95",
    "search.p95",
    "hit_rate_warm",
    "db_bytes",
    "lock_waits",
];

/// Compares the key metrics of `current` with `previous`; a metric without data in either run
/// (say, no `cli` operations) is left out. The ratio is current / baseline, 0 when the baseline is 0.
pub fn compare(previous: &SoakReport, current: &SoakReport, source: &str) -> BaselineComparison {
    let rows = COMPARED_METRICS
        .iter()
        .filter_map(|metric| row(metric, previous, current))
        .collect();
    BaselineComparison {
        source: source.to_string(),
        baseline_commit: previous.environment.commit.clone(),
        rows,
    }
}

fn row(metric: &str, previous: &SoakReport, current: &SoakReport) -> Option<BaselineRow> {
    let baseline = slo::measure(previous, metric)?;
    let current = slo::measure(current, metric)?;
    let ratio = if baseline == 0.0 {
        0.0
    } else {
        current / baseline
    };
    Some(BaselineRow {
        metric: metric.to_string(),
        baseline,
        current,
        ratio,
    })
}

/// Loads a previous JSON report. `Ok(None)` when there is no file; an unreadable file or one in
/// another format is an error with context (the caller decides whether to warn and go on).
pub fn load(path: &Path) -> Result<Option<SoakReport>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read baseline {}", path.display()));
        }
    };
    let report = serde_json::from_str(&text).with_context(|| {
        format!(
            "baseline {} is not a soak report in the current format",
            path.display()
        )
    })?;
    Ok(Some(report))
}
