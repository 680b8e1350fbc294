//! Telemetry audit: every line parses, no absolute path, and the events the operations must
//! have produced are all there.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;

use trifecta::telemetry::reader::event_files;

use crate::report::model::TelemetrySummary;
use crate::worker::spec::WorkerResult;

/// Event counts of one process.
#[derive(Debug, Default, Clone)]
struct PidCounts {
    by_cmd: BTreeMap<String, u64>,
}

/// Streams every events file of `dir` and reconciles it with the workers' counts.
///
/// For each worker process, exactly: `hit + miss + stale` events equal its `get` calls,
/// `write` events its `put` calls, `evict` events its evicting puts, `lock_wait` events its
/// waits at or above the threshold (`lock_waits_by_pid`). For `cli` operations (other
/// processes): at least one `ast.symbols` event per successful operation.
pub fn audit(dir: &Path, workers: &[WorkerResult], lock_waits_by_pid: &HashMap<u32, u64>, forbidden: &[&str]) -> anyhow::Result<TelemetrySummary> {
    let mut summary = TelemetrySummary::default();
    let mut by_pid: HashMap<u32, PidCounts> = HashMap::new();
    let files = if dir.exists() { event_files(dir)? } else { Vec::new() };
    summary.files = files.len() as u64;
    for path in &files {
        let reader = BufReader::new(std::fs::File::open(path)?);
        for line in reader.split(b'\n') {
            let line = line?;
            if line.is_empty() {
                continue;
            }
            summary.lines += 1;
            match serde_json::from_slice::<Value>(&line) {
                Ok(event) if event.is_object() => {
                    let cmd = event["cmd"].as_str().unwrap_or("<none>").to_string();
                    let pid = event["pid"].as_u64().unwrap_or(0) as u32;
                    *summary.found.entry(cmd.clone()).or_default() += 1;
                    *by_pid.entry(pid).or_default().by_cmd.entry(cmd).or_default() += 1;
                    if has_absolute_path(&event, forbidden) {
                        summary.absolute_paths += 1;
                    }
                }
                _ => summary.unparsable += 1,
            }
        }
    }
    reconcile(&mut summary, &by_pid, workers, lock_waits_by_pid);
    Ok(summary)
}

fn reconcile(summary: &mut TelemetrySummary, by_pid: &HashMap<u32, PidCounts>, workers: &[WorkerResult], waits: &HashMap<u32, u64>) {
    let empty = PidCounts::default();
    let mut cli_ops = 0;
    for worker in workers {
        let found = by_pid.get(&worker.pid).unwrap_or(&empty);
        let count = |cmd: &str| found.by_cmd.get(cmd).copied().unwrap_or(0);
        let lookups = count("ast.cache.hit") + count("ast.cache.miss") + count("ast.cache.stale");
        let checks = [
            ("ast.cache.hit|miss|stale", worker.gets, lookups),
            ("ast.cache.write", worker.puts, count("ast.cache.write")),
            ("ast.cache.evict", worker.evict_events, count("ast.cache.evict")),
            ("ast.cache.lock_wait", waits.get(&worker.pid).copied().unwrap_or(0), count("ast.cache.lock_wait")),
        ];
        for (name, expected, got) in checks {
            *summary.expected.entry(name.to_string()).or_default() += expected;
            summary.missing_events += expected.saturating_sub(got);
        }
        cli_ops += worker.cli_ops;
    }
    let worker_pids: Vec<u32> = workers.iter().map(|w| w.pid).collect();
    let cli_events: u64 = by_pid
        .iter()
        .filter(|(pid, _)| !worker_pids.contains(pid))
        .map(|(_, c)| c.by_cmd.get("ast.symbols").copied().unwrap_or(0))
        .sum();
    *summary.expected.entry("ast.symbols".to_string()).or_default() += cli_ops;
    summary.missing_events += cli_ops.saturating_sub(cli_events);
}

/// True when any string in the event is an absolute path or contains a forbidden fragment
/// (the work directory).
fn has_absolute_path(value: &Value, forbidden: &[&str]) -> bool {
    match value {
        Value::String(text) => text.starts_with('/') || forbidden.iter().any(|f| !f.is_empty() && text.contains(f)),
        Value::Array(items) => items.iter().any(|v| has_absolute_path(v, forbidden)),
        Value::Object(map) => map.values().any(|v| has_absolute_path(v, forbidden)),
        _ => false,
    }
}
