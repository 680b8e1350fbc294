//! Command-line options, profiles and validation into a [`RunConfig`].

use clap::{Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::faults::{self, Fault, FaultPlan};
use crate::slo::{self, Slo};
use crate::worker::spec::OpKind;

/// Exit code: every SLO held.
pub const EXIT_PASS: i32 = 0;
/// Exit code: the run finished and at least one SLO failed.
pub const EXIT_SLO_FAILED: i32 = 1;
/// Exit code: bad arguments (nothing was started).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the harness itself failed (a worker crashed, a file could not be written, ...).
pub const EXIT_HARNESS_ERROR: i32 = 3;
/// Exit code: interrupted by SIGINT/SIGTERM; an incomplete report was written.
pub const EXIT_INTERRUPTED: i32 = 130;

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    every SLO held (verdict pass)
  1    the run finished and an SLO failed (verdict fail)
  2    usage error: bad arguments, missing corpus, unwritable report path (nothing started)
  3    harness error: a worker or the interferer crashed, a result could not be read or written
  130  interrupted (SIGINT/SIGTERM): workers stopped, report written and marked incomplete

Profiles:
  ci     4 processes x 2 threads, 300 generated files, 30 s of timed phases, open loop at
         200 operations/s per process, mix symbols=88,search=1,cli=3,mutate=8, interference on
  5min   4 processes x 2 threads, 1,000 generated files, 300 s of timed phases, closed loop,
         mix symbols=94,search=1,cli=2,mutate=3, interference on
  chaos  the 5min profile with every fault (kill, corrupt, sources, rogue-close); use
         --duration to shorten

SLO metrics (--slo 'METRIC<TARGET'): <op>.<stat> with op in get, put, symbols, search, cli,
mutate, lock_wait and stat in p50, p90, p95, p99, p999, max, mean (also <op>_outside.<stat> and
<op>_warm_outside.<stat> for operations outside interference windows); hit_rate_cold,
hit_rate_warm, integrity_ok, unrecovered_corruption, wrong_hits, lost_events, unparsable_lines,
absolute_paths, db_bytes, lock_waits, lock_timeouts, ops_total, errors, memory_growth_pct,
overhead_pct. Units: us, ms, s; B, KB, MB, GB, KiB, MiB, GiB; %.";

/// Soak and load test of the Trifecta AST cache; writes reports/ast_soak_run.md and .json.
#[derive(Debug, Parser)]
#[command(name = "soak", version, about, after_help = EXIT_CODES_HELP)]
pub struct SoakArgs {
    #[command(subcommand)]
    pub internal: Option<Internal>,

    /// Preset sizes and durations.
    #[arg(long, value_enum, default_value_t = Profile::Ci)]
    pub profile: Profile,
    /// Length of the timed phases (warm 60 %, mutation 40 %), e.g. 30s, 5m.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Worker processes (1 to 64).
    #[arg(long)]
    pub processes: Option<u32>,
    /// Threads per worker process (1 to 64).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Seed of the corpus, the operation mix and the fault schedule.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Open loop: operations per second per worker process (default 200 in the ci profile).
    #[arg(long, conflicts_with = "closed_loop")]
    pub rate: Option<f64>,
    /// Closed loop: each thread starts its next operation when the previous one ends (the
    /// default of the 5min and chaos profiles).
    #[arg(long)]
    pub closed_loop: bool,
    /// Operation mix weights, e.g. symbols=88,search=1,cli=3,mutate=8 (mutate runs only in
    /// the mutation phase).
    #[arg(long)]
    pub mix: Option<String>,
    /// Python files in the generated corpus (1 to 200,000).
    #[arg(long)]
    pub files: Option<u32>,
    /// Soak a real tree instead of a generated one (copied; the source is never written).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Run without the interference process.
    #[arg(long)]
    pub no_interference: bool,
    /// Time between interference windows, e.g. 2500ms.
    #[arg(long, value_parser = parse_duration, default_value = "2500ms")]
    pub interference_period: Duration,
    /// Length of one interference window, e.g. 150ms.
    #[arg(long, value_parser = parse_duration, default_value = "150ms")]
    pub interference_window: Duration,
    /// Walk the interference schedule without taking any lock (proves the verdict catches a
    /// broken interferer; the run must fail).
    #[arg(long, hide = true)]
    pub interference_dry_run: bool,
    /// Faults to inject: kill, corrupt, sources, rogue-close, or all (default: none; the chaos
    /// profile: all).
    #[arg(long)]
    pub faults: Option<String>,
    /// Mean time between worker kills (with --faults kill).
    #[arg(long, value_parser = parse_duration, default_value = "450ms")]
    pub kill_every: Duration,
    /// Time between database corruptions (with --faults corrupt).
    #[arg(long, value_parser = parse_duration, default_value = "2500ms")]
    pub corrupt_every: Duration,
    /// How long a cache operation waits for the file lock before degrading to uncached.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub lock_timeout: Duration,
    /// Add or override an SLO, e.g. 'symbols.p99<2ms' (repeatable).
    #[arg(long = "slo")]
    pub slos: Vec<String>,
    /// Where the reports are written.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// A previous ast_soak_run.json to compare with (default: the one in --report-dir).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Do not compare with a baseline.
    #[arg(long, conflicts_with = "baseline")]
    pub no_baseline: bool,
    /// Work directory (default: a fresh temporary directory, removed afterwards).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Keep the work directory (corpus, database, telemetry) after the run.
    #[arg(long)]
    pub keep_workdir: bool,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

/// Internal roles of the same binary (not for direct use).
#[derive(Debug, Subcommand)]
pub enum Internal {
    #[command(name = "__worker", hide = true)]
    Worker { spec: PathBuf },
    #[command(name = "__interfere", hide = true)]
    Interfere { spec: PathBuf },
    /// The trifecta CLI embedded, used for `cli` operations when no trifecta binary is built.
    #[command(name = "__trifecta", hide = true)]
    Trifecta {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

/// Preset sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    Ci,
    #[value(name = "5min")]
    FiveMin,
    Chaos,
}

impl Profile {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Ci => "ci",
            Profile::FiveMin => "5min",
            Profile::Chaos => "chaos",
        }
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise.
    Auto,
    Bars,
    Plain,
    None,
}

/// Interference settings.
#[derive(Debug, Clone)]
pub struct InterferenceConfig {
    pub period: Duration,
    pub window: Duration,
    pub dry_run: bool,
}

/// A validated run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub profile: Profile,
    pub faults: FaultPlan,
    pub duration: Duration,
    pub processes: u32,
    pub threads: u32,
    pub seed: u64,
    pub rate: Option<f64>,
    pub mix: Vec<(OpKind, u32)>,
    pub files: u32,
    pub markdown_files: u32,
    pub corpus: Option<PathBuf>,
    pub interference: Option<InterferenceConfig>,
    pub lock_timeout: Duration,
    pub slos: Vec<Slo>,
    pub slo_overrides: Vec<String>,
    /// Least operations the run must complete (an SLO).
    pub min_ops: u64,
    pub report_dir: PathBuf,
    pub baseline: Option<PathBuf>,
    pub workdir: Option<PathBuf>,
    pub keep_workdir: bool,
    pub progress: ProgressMode,
    /// The command that replays this run.
    pub command: String,
}

/// Default seed: fixed, so two runs of a profile soak the same corpus and schedule.
pub const DEFAULT_SEED: u64 = 20_260_106;
/// The ci profile's mix: a search reads every file of the segment, so it is rare, as it is for
/// agents.
const CI_MIX: &str = "symbols=88,search=1,cli=3,mutate=8";
/// The long profiles' mix: mostly symbol lookups, for throughput.
const LONG_MIX: &str = "symbols=94,search=1,cli=2,mutate=3";
/// The ci profile's open-loop rate per process: leaves the 2-core machine headroom, so
/// latencies measure the cache rather than the run queue.
const CI_RATE: f64 = 200.0;
/// Operations per second the 5-minute profile must sustain (1,000,000 in 300 s).
const LONG_RUN_OPS_PER_S: f64 = 1_000_000.0 / 300.0;

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("'{text}' is not a duration like 30s or 5m: {e}"))
}

/// A duration as one shell word, e.g. `2500ms`.
fn as_millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

fn in_range(name: &str, value: u32, low: u32, high: u32) -> Result<u32, String> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "--{name} must be between {low} and {high}, got {value}"
        ))
    }
}

/// Parses `symbols=85,search=4` into weights; unknown names and an all-zero mix are errors.
pub fn parse_mix(text: &str) -> Result<Vec<(OpKind, u32)>, String> {
    let mut mix = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = part
            .split_once('=')
            .ok_or_else(|| format!("--mix entry '{part}' must look like name=weight"))?;
        let kind = OpKind::parse(name.trim()).ok_or_else(|| {
            format!("--mix: unknown operation '{name}' (known: symbols, search, cli, mutate)")
        })?;
        let weight: u32 = weight
            .trim()
            .parse()
            .map_err(|_| format!("--mix: weight of '{name}' must be a whole number"))?;
        if weight > 1_000_000 {
            return Err(format!("--mix: weight of '{name}' is absurd ({weight})"));
        }
        mix.retain(|(k, _)| *k != kind);
        mix.push((kind, weight));
    }
    let reading: u32 = mix
        .iter()
        .filter(|(k, _)| *k != OpKind::Mutate)
        .map(|(_, w)| w)
        .sum();
    if reading == 0 {
        return Err("--mix needs a positive weight for symbols, search or cli".into());
    }
    Ok(mix)
}

impl SoakArgs {
    /// Checks every value and fills in the profile's defaults.
    pub fn validate(&self) -> Result<RunConfig, String> {
        let long = self.profile != Profile::Ci;
        let duration = self
            .duration
            .unwrap_or(Duration::from_secs(if long { 300 } else { 30 }));
        if duration < Duration::from_secs(1) || duration > Duration::from_secs(24 * 3600) {
            return Err(format!(
                "--duration must be between 1s and 24h, got {duration:?}"
            ));
        }
        let processes = in_range("processes", self.processes.unwrap_or(4), 1, 64)?;
        let threads = in_range("threads", self.threads.unwrap_or(2), 1, 64)?;
        let files = in_range(
            "files",
            self.files.unwrap_or(if long { 1000 } else { 300 }),
            1,
            200_000,
        )?;
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0)
        {
            return Err(format!(
                "--rate must be between 0 and 1,000,000 operations per second, got {rate}"
            ));
        }
        let rate = match (self.rate, self.closed_loop, long) {
            (Some(rate), _, _) => Some(rate),
            (None, true, _) | (None, false, true) => None,
            (None, false, false) => Some(CI_RATE),
        };
        let mix = parse_mix(
            self.mix
                .as_deref()
                .unwrap_or(if long { LONG_MIX } else { CI_MIX }),
        )?;
        if let Some(corpus) = &self.corpus
            && !corpus.is_dir()
        {
            return Err(format!("--corpus {} is not a directory", corpus.display()));
        }
        let interference = self.interference_config()?;
        let faults = self.fault_plan()?;
        if self.lock_timeout < Duration::from_millis(10)
            || self.lock_timeout > Duration::from_secs(600)
        {
            return Err("--lock-timeout must be between 10ms and 10m".into());
        }
        let min_ops = if self.profile == Profile::FiveMin {
            (LONG_RUN_OPS_PER_S * duration.as_secs_f64()).ceil() as u64
        } else {
            2_000
        };
        let overrides = self
            .slos
            .iter()
            .map(|s| slo::parse(s).map_err(|e| format!("--slo '{s}': {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let slos = slo::merge(
            slo::default_slos(interference.is_some(), min_ops),
            overrides,
        );
        if let Some(baseline) = &self.baseline
            && !baseline.is_file()
        {
            return Err(format!("--baseline {} is not a file", baseline.display()));
        }
        let baseline = if self.no_baseline {
            None
        } else {
            Some(
                self.baseline
                    .clone()
                    .unwrap_or_else(|| self.report_dir.join("ast_soak_run.json")),
            )
        };
        Ok(RunConfig {
            profile: self.profile,
            faults,
            duration,
            processes,
            threads,
            seed: self.seed.unwrap_or(DEFAULT_SEED),
            rate,
            mix,
            files,
            markdown_files: (files / 15).clamp(3, 200),
            corpus: self.corpus.clone(),
            interference,
            lock_timeout: self.lock_timeout,
            slos,
            slo_overrides: self.slos.clone(),
            min_ops,
            report_dir: self.report_dir.clone(),
            baseline,
            workdir: self.workdir.clone(),
            keep_workdir: self.keep_workdir,
            progress: self.progress,
            command: self.replay_command(duration, processes, threads, rate),
        })
    }

    fn fault_plan(&self) -> Result<FaultPlan, String> {
        let default = if self.profile == Profile::Chaos {
            "all"
        } else {
            ""
        };
        let faults = faults::parse_faults(self.faults.as_deref().unwrap_or(default))?;
        let sane = |d: Duration| d >= Duration::from_millis(50) && d <= Duration::from_secs(3600);
        if !sane(self.kill_every) || !sane(self.corrupt_every) {
            return Err("--kill-every and --corrupt-every must be between 50ms and 1h".into());
        }
        Ok(FaultPlan {
            faults,
            kill_every: self.kill_every,
            corrupt_every: self.corrupt_every,
        })
    }

    fn interference_config(&self) -> Result<Option<InterferenceConfig>, String> {
        if self.no_interference {
            return Ok(None);
        }
        let (period, window) = (self.interference_period, self.interference_window);
        if window.is_zero() || window >= period {
            return Err(
                "--interference-window must be positive and shorter than --interference-period"
                    .into(),
            );
        }
        if window >= self.lock_timeout {
            return Err("--interference-window must be shorter than --lock-timeout (operations would time out instead of waiting)".into());
        }
        Ok(Some(InterferenceConfig {
            period,
            window,
            dry_run: self.interference_dry_run,
        }))
    }

    /// The exact command that replays this run (seed included).
    fn replay_command(
        &self,
        duration: Duration,
        processes: u32,
        threads: u32,
        rate: Option<f64>,
    ) -> String {
        let mut parts = vec![
            "cargo run --release --bin soak --".to_string(),
            format!("--profile {}", self.profile.name()),
            format!("--seed {}", self.seed.unwrap_or(DEFAULT_SEED)),
            format!("--duration {}", as_millis(duration)),
            format!("--processes {processes}"),
            format!("--threads {threads}"),
        ];
        if let Some(files) = self.files {
            parts.push(format!("--files {files}"));
        }
        match rate {
            Some(rate) => parts.push(format!("--rate {rate}")),
            None => parts.push("--closed-loop".into()),
        }
        if let Some(mix) = &self.mix {
            parts.push(format!("--mix '{mix}'"));
        }
        if let Some(corpus) = &self.corpus {
            parts.push(format!("--corpus '{}'", corpus.display()));
        }
        if self.no_interference {
            parts.push("--no-interference".into());
        } else {
            parts.push(format!(
                "--interference-period {} --interference-window {}",
                as_millis(self.interference_period),
                as_millis(self.interference_window)
            ));
        }
        if self.interference_dry_run {
            parts.push("--interference-dry-run".into());
        }
        if let Ok(plan) = self.fault_plan()
            && !plan.faults.is_empty()
        {
            let names: Vec<&str> = plan.faults.iter().map(|f| f.as_str()).collect();
            parts.push(format!("--faults {}", names.join(",")));
            if plan.has(Fault::Kill) {
                parts.push(format!("--kill-every {}", as_millis(plan.kill_every)));
            }
            if plan.has(Fault::Corrupt) {
                parts.push(format!("--corrupt-every {}", as_millis(plan.corrupt_every)));
            }
        }
        parts.push(format!("--lock-timeout {}", as_millis(self.lock_timeout)));
        for slo in &self.slos {
            parts.push(format!("--slo '{slo}'"));
        }
        parts.join(" ")
    }
}
