//! What the coordinator tells a worker process, and what the worker reports back.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::faults::Fault;
use crate::metrics::Sample;

/// The phases of a soak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Fresh,
    Cold,
    Warm,
    Mutation,
    Verification,
}

impl Phase {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Fresh => "fresh",
            Phase::Cold => "cold",
            Phase::Warm => "warm",
            Phase::Mutation => "mutation",
            Phase::Verification => "verification",
        }
    }
}

/// Operation types a worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// Library call: symbols of one file through the cache.
    Symbols,
    /// Library call: a whole `ctx search` over the segment.
    Search,
    /// A real `trifecta ast symbols` process.
    Cli,
    /// Edit a source file.
    Mutate,
    /// A hostile source edit followed by a lookup (with `--faults sources`).
    Fault,
}

impl OpKind {
    /// All kinds, in a fixed order.
    pub const ALL: [OpKind; 5] = [
        OpKind::Symbols,
        OpKind::Search,
        OpKind::Cli,
        OpKind::Mutate,
        OpKind::Fault,
    ];

    /// Lowercase name (also the histogram name).
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Symbols => "symbols",
            OpKind::Search => "search",
            OpKind::Cli => "cli",
            OpKind::Mutate => "mutate",
            OpKind::Fault => "fault",
        }
    }

    /// Parses a lowercase name.
    pub fn parse(name: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// How a worker spends its phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// One `symbols` operation per listed file (the cold pass).
    Shard { files: Vec<String> },
    /// Operations drawn from the mix until the deadline.
    Timed {
        duration_ms: u64,
        mix: Vec<(OpKind, u32)>,
    },
}

/// The command that runs the `trifecta` CLI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CliCommand {
    pub program: PathBuf,
    /// Arguments placed before `ast symbols ...` (e.g. the embedded-CLI subcommand).
    pub prefix: Vec<String>,
}

/// Everything a worker process needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSpec {
    pub worker: u32,
    pub phase: Phase,
    pub segment: PathBuf,
    pub manifest: PathBuf,
    pub threads: u32,
    pub seed: u64,
    pub plan: Plan,
    /// Open-loop rate for this process (operations per second), if any.
    pub rate: Option<f64>,
    /// Unix nanoseconds of the soak's start (the shared time origin).
    pub epoch_unix_ns: i128,
    /// Planned interference windows, ms since the epoch.
    pub windows: Vec<(f64, f64)>,
    pub spike_threshold_us: u64,
    pub lock_timeout_ms: u64,
    pub lock_wait_threshold_us: u64,
    /// Hits re-parsed by the oracle: the first `oracle_min` and then this fraction.
    pub oracle_fraction: f64,
    pub oracle_min: u64,
    pub cli: CliCommand,
    pub run_id: String,
    pub result_path: PathBuf,
    /// Faults this worker injects itself (`sources`, `rogue-close`).
    pub faults: Vec<Fault>,
    /// How often the cache runs a `quick_check` in this worker.
    pub quick_check_interval_ms: u64,
}

/// Outcomes of one hostile-source mode in one worker.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceFaultCount {
    pub injected: u64,
    /// Lookups that gave the expected answer (symbols, `NOT_PYTHON` or `TOO_LARGE`).
    pub answered: u64,
    /// Lookups that failed otherwise.
    pub unexpected: u64,
    pub wrong_hits: u64,
}

/// Oracle tallies.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OracleCounts {
    pub hits_total: u64,
    pub hits_verified: u64,
    pub wrong_hits: u64,
    pub wrong_samples: Vec<String>,
}

/// What a worker measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerResult {
    pub worker: u32,
    pub phase: String,
    pub pid: u32,
    /// False when a stop signal ended the phase early.
    pub completed: bool,
    pub ops: BTreeMap<String, u64>,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub gets: u64,
    pub puts: u64,
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub evict_events: u64,
    pub evictions: u64,
    pub lock_timeouts: u64,
    pub busy_retries: u64,
    pub recovered: u64,
    /// `cli` operations and how their cache answered.
    pub cli_ops: u64,
    pub cli_hits: u64,
    pub cli_misses: u64,
    /// Histograms (base64 V2 deflate) by op.
    pub histograms: BTreeMap<String, String>,
    pub histograms_outside_windows: BTreeMap<String, String>,
    pub histograms_corrected: BTreeMap<String, String>,
    pub histograms_lag: BTreeMap<String, String>,
    pub dropped: u64,
    pub waits: Vec<Sample>,
    pub spikes: Vec<Sample>,
    pub oracle: OracleCounts,
    /// (seconds since worker start, resident KiB).
    pub rss_samples: Vec<(f64, u64)>,
    pub bookkeeping_ns_per_op: f64,
    pub op_time_ns: u128,
    pub seconds: f64,
    /// Hostile-source faults by mode.
    pub source_faults: BTreeMap<String, SourceFaultCount>,
    /// Rogue opens-and-closes of the database file.
    pub rogue_closes: u64,
}
