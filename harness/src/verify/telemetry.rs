//! Telemetry audit: every line parses, no absolute path, and the events the operations must
//! have produced are all there.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;

use trifecta::telemetry::reader::{event_files, split_records};

use crate::report::model::TelemetrySummary;
use crate::worker::spec::WorkerResult;

/// The three lookup events, reconciled together (every `get` emits exactly one of them).
const LOOKUPS: &str = "ast.cache.hit|miss|stale";

/// Event counts of one process.
#[derive(Debug, Default, Clone)]
struct PidCounts {
    by_cmd: BTreeMap<String, u64>,
}

impl PidCounts {
    fn count(&self, cmd: &str) -> u64 {
        self.by_cmd.get(cmd).copied().unwrap_or(0)
    }

    fn lookups(&self) -> u64 {
        self.count("ast.cache.hit") + self.count("ast.cache.miss") + self.count("ast.cache.stale")
    }
}

/// The audit and the timestamps of the events fault attribution needs.
#[derive(Debug, Default)]
pub struct Audit {
    pub summary: TelemetrySummary,
    /// `ts` of every `ast.cache.corruption_detected` event.
    pub detections: Vec<String>,
    /// `ts` of every lookup answered `corruption_recovered`.
    pub recovered_lookups: Vec<String>,
    /// `ts` of every `ast.cache.lock_wait` event.
    pub lock_waits: Vec<String>,
}

/// Streams every events file of `dir` and reconciles it with the workers' counts. Processes
/// in `killed` died by SIGKILL: their lines must parse, but their counts are not known.
///
/// See [`reconcile`] for what must be there.
pub fn audit(
    dir: &Path,
    workers: &[WorkerResult],
    lock_waits_by_pid: &HashMap<u32, u64>,
    forbidden: &[&str],
    killed: &[u32],
) -> anyhow::Result<Audit> {
    let mut audit = Audit::default();
    let mut by_pid: HashMap<u32, PidCounts> = HashMap::new();
    let files = if dir.exists() {
        event_files(dir)?
    } else {
        Vec::new()
    };
    audit.summary.files = files.len() as u64;
    for path in &files {
        let reader = BufReader::new(std::fs::File::open(path)?);
        for line in reader.split(b'\n') {
            let line = line?;
            if line.is_empty() {
                continue;
            }
            audit.summary.lines += 1;
            for record in split_records(&line) {
                match serde_json::from_slice::<Value>(record) {
                    Ok(event) if event.is_object() => {
                        count_event(&event, &mut audit, &mut by_pid, forbidden)
                    }
                    _ if torn_by(record, killed) => audit.summary.torn_by_kill += 1,
                    _ => audit.summary.unparsable += 1,
                }
            }
        }
    }
    for pid in killed {
        by_pid.remove(pid);
    }
    reconcile(&mut audit.summary, &by_pid, workers, lock_waits_by_pid);
    audit.detections.sort();
    audit.recovered_lookups.sort();
    Ok(audit)
}

/// Per worker process, exact: `hit + miss + stale` events equal its `get` calls, `write`
/// events its `put` calls, `evict` events its evicting puts, `lock_wait` events its waits at or
/// above the threshold. `cli` processes: one `ast.symbols`, one lookup event and (on a miss) one
/// `write` event per successful operation; their lock waits are not known in advance, so
/// `lock_wait` events may exceed the expectation.
fn reconcile(
    summary: &mut TelemetrySummary,
    by_pid: &HashMap<u32, PidCounts>,
    workers: &[WorkerResult],
    waits: &HashMap<u32, u64>,
) {
    let empty = PidCounts::default();
    let worker_pids: Vec<u32> = workers.iter().map(|w| w.pid).collect();
    let expect = |summary: &mut TelemetrySummary, name: &str, expected: u64, found: u64| {
        *summary.expected.entry(name.to_string()).or_default() += expected;
        summary.missing_events += expected.saturating_sub(found);
    };
    for worker in workers {
        let found = by_pid.get(&worker.pid).unwrap_or(&empty);
        let waits = waits.get(&worker.pid).copied().unwrap_or(0);
        expect(summary, LOOKUPS, worker.gets, found.lookups());
        expect(
            summary,
            "ast.cache.write",
            worker.puts,
            found.count("ast.cache.write"),
        );
        expect(
            summary,
            "ast.cache.evict",
            worker.evict_events,
            found.count("ast.cache.evict"),
        );
        expect(
            summary,
            "ast.cache.lock_wait",
            waits,
            found.count("ast.cache.lock_wait"),
        );
    }
    let cli = by_pid
        .iter()
        .filter(|(pid, _)| !worker_pids.contains(pid))
        .fold(PidCounts::default(), |mut all, (_, counts)| {
            for (cmd, n) in &counts.by_cmd {
                *all.by_cmd.entry(cmd.clone()).or_default() += n;
            }
            all
        });
    let cli_ops: u64 = workers.iter().map(|w| w.cli_ops).sum();
    let cli_misses: u64 = workers.iter().map(|w| w.cli_misses).sum();
    expect(summary, "ast.symbols", cli_ops, cli.count("ast.symbols"));
    expect(summary, LOOKUPS, cli_ops, cli.lookups());
    expect(
        summary,
        "ast.cache.write",
        cli_misses,
        cli.count("ast.cache.write"),
    );
    let lookups: u64 = by_pid.values().map(PidCounts::lookups).sum();
    summary.found.insert(LOOKUPS.to_string(), lookups);
}

/// Counts one parsed event and keeps the timestamps fault attribution needs.
fn count_event(
    event: &Value,
    audit: &mut Audit,
    by_pid: &mut HashMap<u32, PidCounts>,
    forbidden: &[&str],
) {
    let cmd = event["cmd"].as_str().unwrap_or("<none>").to_string();
    let pid = event["pid"].as_u64().unwrap_or(0) as u32;
    let ts = event["ts"].as_str().unwrap_or("").to_string();
    if cmd == "ast.cache.corruption_detected" {
        audit.detections.push(ts);
    } else if cmd == "ast.cache.lock_wait" {
        audit.lock_waits.push(ts);
    } else if event["args"]["reason"] == "corruption_recovered" {
        audit.recovered_lookups.push(ts);
    }
    let summary = &mut audit.summary;
    *summary.found.entry(cmd.clone()).or_default() += 1;
    *by_pid
        .entry(pid)
        .or_default()
        .by_cmd
        .entry(cmd)
        .or_default() += 1;
    if has_absolute_path(event, forbidden) {
        summary.absolute_paths += 1;
    }
}

/// A fragment whose `"pid":N` names a process the kill fault SIGKILLed.
fn torn_by(fragment: &[u8], killed: &[u32]) -> bool {
    let text = String::from_utf8_lossy(fragment);
    let Some(at) = text.find("\"pid\":") else {
        return false;
    };
    let digits: String = text[at + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u32>().is_ok_and(|pid| killed.contains(&pid))
}

/// True when any string in the event is an absolute path or contains a forbidden fragment
/// (the work directory).
fn has_absolute_path(value: &Value, forbidden: &[&str]) -> bool {
    match value {
        Value::String(text) => {
            text.starts_with('/') || forbidden.iter().any(|f| !f.is_empty() && text.contains(f))
        }
        Value::Array(items) => items.iter().any(|v| has_absolute_path(v, forbidden)),
        Value::Object(map) => map.values().any(|v| has_absolute_path(v, forbidden)),
        _ => false,
    }
}
