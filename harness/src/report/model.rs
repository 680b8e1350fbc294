//! The soak report as data: serialised as `reports/ast_soak_run.json` and rendered to Markdown.
//!
//! Every number here is measured by the run; nothing is filled in by hand.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SoakReport {
    /// `"pass"` or `"fail"`.
    pub verdict: String,
    /// False when the run was interrupted (Ctrl-C, SIGTERM) or a harness error cut it short.
    pub complete: bool,
    /// The process exit code this run ends with.
    pub exit_code: i32,
    pub slos: Vec<SloResult>,
    pub config: ConfigSummary,
    pub environment: Environment,
    pub ops: OpsSummary,
    /// Per operation type (`get`, `put`, `symbols`, `search`, `cli`, `mutate`, `lock_wait`).
    pub latency_us: BTreeMap<String, LatencySummary>,
    /// The same for operations that did not overlap an interference window.
    pub latency_outside_windows_us: BTreeMap<String, LatencySummary>,
    /// The same for the warm phase only (outside windows).
    pub latency_warm_outside_windows_us: BTreeMap<String, LatencySummary>,
    pub open_loop: Option<OpenLoopSummary>,
    pub phases: Vec<PhaseSummary>,
    pub cache: CacheSummary,
    pub locks: LockSummary,
    pub integrity: IntegritySummary,
    pub oracle: OracleSummary,
    pub telemetry: TelemetrySummary,
    pub faults: Vec<FaultSummary>,
    pub database: DatabaseSummary,
    pub memory: MemorySummary,
    pub overhead: OverheadSummary,
    pub baseline: Option<BaselineComparison>,
    /// Things a reader should know (saturated generator, fallbacks, ...).
    pub warnings: Vec<String>,
}

/// One service-level objective and how the run did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SloResult {
    /// The metric, e.g. `get.p95`.
    pub name: String,
    /// The target as written, e.g. `< 10ms`.
    pub target: String,
    /// The measured value in the metric's unit (µs for latencies, bytes, ratio 0..1, count).
    pub measured: Option<f64>,
    /// Human form of the measured value, e.g. `412 µs`.
    pub measured_text: String,
    pub pass: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigSummary {
    /// `ci`, `5min`, `chaos` or `custom`.
    pub profile: String,
    pub processes: u32,
    pub threads: u32,
    pub seed: u64,
    /// Planned seconds of the timed phases (warm + mutation).
    pub duration_s: f64,
    /// Open-loop rate in operations per second per process, when set.
    pub rate: Option<f64>,
    /// Operation mix weights.
    pub mix: BTreeMap<String, u32>,
    pub corpus: CorpusSummary,
    pub interference: bool,
    pub faults: Vec<String>,
    /// The binary used for `cli` operations.
    pub cli_binary: String,
    /// The exact command that replays this run.
    pub command: String,
    pub slo_overrides: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CorpusSummary {
    /// `generated` or the source directory.
    pub source: String,
    pub python_files: u64,
    pub markdown_files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Environment {
    pub commit: String,
    pub sqlite_version: String,
    /// Pragmas as the cache sets them, read back from a connection.
    pub pragmas: BTreeMap<String, String>,
    pub os: String,
    pub cpus: u32,
    pub started_at: String,
    pub finished_at: String,
    pub soak_version: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OpsSummary {
    pub total: u64,
    pub errors: u64,
    pub by_type: BTreeMap<String, u64>,
    /// Error counts by type, with a few sample messages.
    pub error_samples: Vec<String>,
    /// Seconds of soak (all phases, excluding set-up and report).
    pub soak_seconds: f64,
    pub ops_per_second: f64,
    /// Open-loop operations skipped because the generator fell too far behind.
    pub dropped: u64,
    /// Operations cut short by a SIGKILL fault (counted apart, not lost).
    pub killed: u64,
}

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OpenLoopSummary {
    /// Target operations per second per process.
    pub rate: f64,
    /// Latency from each operation's intended start.
    pub corrected_us: BTreeMap<String, LatencySummary>,
    /// Latency from each operation's actual start.
    pub uncorrected_us: BTreeMap<String, LatencySummary>,
    /// How late operations started against the schedule.
    pub schedule_lag_us: LatencySummary,
    pub dropped: u64,
    /// True when the generator could not keep the rate.
    pub saturated: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PhaseSummary {
    /// `fresh`, `cold`, `warm`, `mutation` or `verification`.
    pub name: String,
    pub seconds: f64,
    pub ops: u64,
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub hit_rate: f64,
    pub errors: u64,
    pub notes: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CacheSummary {
    pub hit_rate_cold: f64,
    pub hit_rate_warm: f64,
    pub hit_rate_mutation: f64,
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub evictions: u64,
    /// SQLite busy-handler retries (a writer waited on another writer).
    pub busy_retries: u64,
    /// Entries in the database at the end (from `cache stats`).
    pub entries_end: u64,
    /// Hit rate over the whole run as the database's persisted counters tell it.
    pub db_hit_rate: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LockSummary {
    /// Waits at or above the lock_wait threshold (what `ast.cache.lock_wait` reports).
    pub lock_waits: u64,
    pub lock_timeouts: u64,
    pub wait_threshold_us: u64,
    /// Waits sampled by the surviving workers inside / outside held windows.
    pub waits_in_windows: u64,
    pub waits_outside_windows: u64,
    /// `ast.cache.lock_wait` events of every process (killed workers and CLI processes
    /// included) that fell inside a held window: the evidence that the interference worked.
    pub wait_events_in_windows: u64,
    /// Slow operations (above `spike_threshold_us`) inside and outside windows.
    pub spike_threshold_us: u64,
    pub spikes_in_windows: u64,
    pub spikes_outside_windows: u64,
    pub windows: Vec<WindowSummary>,
}

/// One interference window as it actually happened.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WindowSummary {
    /// `flock` (exclusive cache lock) or `sqlite` (`BEGIN IMMEDIATE`).
    pub kind: String,
    /// Milliseconds since the start of the soak.
    pub start_ms: f64,
    pub duration_ms: f64,
    /// Lock waits attributed to this window.
    pub waits: u64,
    pub max_wait_us: u64,
    /// Slow operations attributed to this window.
    pub spikes: u64,
    pub phase: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IntegritySummary {
    /// `"ok"` or the error text of the final `integrity_check`.
    pub integrity_check: String,
    pub ok: bool,
    pub quick_checks: u64,
    pub quick_check_failures: u64,
    pub quick_check_results: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OracleSummary {
    pub hits_total: u64,
    pub hits_verified: u64,
    pub wrong_hits: u64,
    /// Fraction of hits re-parsed.
    pub sample_fraction: f64,
    pub wrong_hit_samples: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TelemetrySummary {
    pub lines: u64,
    /// Records that did not parse and are not a fragment torn by a SIGKILL fault.
    pub unparsable: u64,
    /// Fragments of a line whose writer was SIGKILLed in the middle of `write(2)` (their `pid`
    /// is a killed worker's); the records around them are recovered whole.
    pub torn_by_kill: u64,
    pub missing_events: u64,
    /// Events expected from the operations, by name.
    pub expected: BTreeMap<String, u64>,
    /// Events found, by name.
    pub found: BTreeMap<String, u64>,
    pub files: u64,
    /// Events in which a string looked like an absolute path (must be 0).
    pub absolute_paths: u64,
}

/// One fault mode and what it did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultSummary {
    /// `kill`, `corrupt:<mode>`, `sources:<mode>`, `rogue-close`.
    pub mode: String,
    pub injected: u64,
    pub detected: u64,
    pub recovered: u64,
    pub ops_affected: u64,
    pub wrong_hits: u64,
    pub notes: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DatabaseSummary {
    /// Largest database + WAL size seen.
    pub max_bytes: u64,
    pub end_db_bytes: u64,
    pub end_wal_bytes: u64,
    /// (seconds since start, database + WAL bytes).
    pub samples: Vec<(f64, u64)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemorySummary {
    /// Worker resident memory (KiB) per worker: after warm-up and peak afterwards.
    pub workers: Vec<WorkerMemory>,
    /// Largest growth after warm-up across workers, in percent.
    pub max_growth_pct: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerMemory {
    pub worker: u32,
    pub phase: String,
    pub rss_after_warmup_kib: u64,
    pub rss_peak_kib: u64,
    pub growth_pct: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OverheadSummary {
    /// Nanoseconds the harness spends recording one operation (measured by calibration).
    pub bookkeeping_ns_per_op: f64,
    /// Mean nanoseconds of one operation.
    pub op_ns_mean: f64,
    /// bookkeeping / operation time, percent.
    pub ratio_pct: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BaselineComparison {
    /// Where the baseline came from.
    pub source: String,
    pub baseline_commit: String,
    pub rows: Vec<BaselineRow>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BaselineRow {
    pub metric: String,
    pub baseline: f64,
    pub current: f64,
    /// current / baseline.
    pub ratio: f64,
}
