//! The coordinator: prepares the corpus, runs the phases (fresh, cold, warm, mutation,
//! verification) with worker processes and the interferer, verifies, and writes the report.

mod assemble;
mod environment;
mod fault_driver;
mod fault_report;
mod samplers;
mod spawn;

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use trifecta::cache::{CacheConfig, build_cache};
use trifecta::segment::Segment;
use trifecta::telemetry::Telemetry;

use crate::args::{EXIT_HARNESS_ERROR, EXIT_INTERRUPTED, EXIT_PASS, EXIT_SLO_FAILED, RunConfig};
use crate::corpus::{self, Corpus, CorpusSpec};
use crate::faults::Fault;
use crate::interference::{self, InterferenceSpec};
use crate::progress::{PhaseLength, Progress};
use crate::report::model::{CorpusSummary, IntegritySummary, PhaseSummary, SoakReport};
use crate::report::{self, baseline};
use crate::worker::spec::{CliCommand, OpKind, Phase, Plan, WorkerSpec};
use crate::{slo, util, verify};
use fault_driver::FaultDriver;
use spawn::{PhaseLauncher, PhaseRun};

/// Threshold of the `ast.cache.lock_wait` event in the soak.
const LOCK_WAIT_THRESHOLD_US: u64 = 1_000;
/// How often the coordinator runs `quick_check` during the run.
const QUICK_CHECK_EVERY: Duration = Duration::from_secs(5);
/// Weight of the hostile-source operation in the timed phases' mix (with `--faults sources`).
const SOURCE_FAULT_WEIGHT: u32 = 2;
/// With `--faults corrupt`, each worker's cache runs a `quick_check` this often (default: hourly).
const CORRUPT_QUICK_CHECK_MS: u64 = 1_000;
/// Hits every worker re-parses before sampling, and the sampled fraction after that.
const ORACLE_MIN: u64 = 100;
const ORACLE_FRACTION: f64 = 0.06;

/// The state of one run.
struct Run {
    config: RunConfig,
    exe: PathBuf,
    workdir: PathBuf,
    segment: Segment,
    corpus: Corpus,
    manifest: PathBuf,
    cli: CliCommand,
    run_id: String,
    epoch_unix_ns: i128,
    stop: Arc<AtomicBool>,
    progress: Progress,
    faults: FaultDriver,
}

/// Runs the soak and returns the process exit code.
pub fn run(config: RunConfig, stop: Arc<AtomicBool>) -> anyhow::Result<i32> {
    let started_at = environment::now_rfc3339();
    let baseline = load_baseline(&config);
    let temp = match &config.workdir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("trifecta-soak-")
                .tempdir()?,
        ),
    };
    let workdir = match (&config.workdir, &temp) {
        (Some(dir), _) => dir.clone(),
        (None, Some(temp)) => temp.path().to_path_buf(),
        (None, None) => unreachable_workdir()?,
    };
    let progress = Progress::new(config.progress);
    progress.note(&format!("work directory {}", workdir.display()));
    let mut run = prepare(config, workdir, stop, progress)?;
    let mut report = SoakReport {
        environment: environment::describe(&started_at),
        ..SoakReport::default()
    };
    let (baseline, baseline_warning) = baseline;
    report.warnings.extend(baseline_warning);
    let outcome = run.execute(&mut report);
    let code = run.finish(&mut report, outcome, baseline);
    if (run.config.keep_workdir || code == EXIT_HARNESS_ERROR)
        && let Some(temp) = temp
    {
        let kept = temp.keep();
        run.progress
            .note(&format!("work directory kept at {}", kept.display()));
    }
    Ok(code)
}

fn unreachable_workdir() -> anyhow::Result<PathBuf> {
    anyhow::bail!("no work directory")
}

/// Loads the baseline report (with its source) before this run overwrites it, or a warning
/// saying why it could not be used.
fn load_baseline(config: &RunConfig) -> (Option<(SoakReport, String)>, Option<String>) {
    let Some(path) = &config.baseline else {
        return (None, None);
    };
    match baseline::load(path) {
        Ok(Some(previous)) => (Some((previous, path.display().to_string())), None),
        Ok(None) => (None, None),
        Err(err) => (
            None,
            Some(format!("baseline {} not used: {err:#}", path.display())),
        ),
    }
}

fn prepare(
    config: RunConfig,
    workdir: PathBuf,
    stop: Arc<AtomicBool>,
    progress: Progress,
) -> anyhow::Result<Run> {
    let root = workdir.join("segment");
    let control = workdir.join("control");
    std::fs::create_dir_all(&root)?;
    std::fs::create_dir_all(&control)?;
    let corpus = match &config.corpus {
        Some(source) => corpus::copy_corpus(source, &root, config.seed)?,
        None => corpus::generate(
            &root,
            &CorpusSpec {
                python_files: config.files as usize,
                markdown_files: config.markdown_files as usize,
                seed: config.seed,
            },
        )?,
    };
    progress.note(&format!(
        "corpus: {} Python files, {} Markdown files, {} bytes ({})",
        corpus.python.len(),
        corpus.markdown.len(),
        corpus.bytes,
        corpus.source
    ));
    let manifest = control.join("corpus.json");
    corpus.write_manifest(&manifest)?;
    let exe = std::env::current_exe().context("locating the soak binary")?;
    let cli = cli_command(&exe);
    let segment = Segment::open(&root)?;
    let run_id = format!("soak-{}-{}", config.profile.name(), config.seed);
    progress.note(&format!("cli operations run {}", describe_cli(&cli)));
    let faults = FaultDriver::new(&config.faults, segment.clone(), config.seed);
    Ok(Run {
        faults,
        config,
        exe,
        workdir,
        segment,
        corpus,
        manifest,
        cli,
        run_id,
        epoch_unix_ns: util::unix_now_ns(),
        stop,
        progress,
    })
}

/// The `trifecta` binary next to `soak` when it was built, else `soak __trifecta` (the same
/// CLI code embedded in this binary).
fn cli_command(exe: &Path) -> CliCommand {
    let sibling = exe.with_file_name("trifecta");
    if sibling.is_file() {
        CliCommand {
            program: sibling,
            prefix: Vec::new(),
        }
    } else {
        CliCommand {
            program: exe.to_path_buf(),
            prefix: vec!["__trifecta".into()],
        }
    }
}

fn describe_cli(cli: &CliCommand) -> String {
    let name = cli
        .program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if cli.prefix.is_empty() {
        format!("{name} (the trifecta binary)")
    } else {
        format!(
            "{name} {} (trifecta CLI embedded in soak; build the trifecta binary to use it instead)",
            cli.prefix.join(" ")
        )
    }
}

impl Run {
    fn offset_ms(&self) -> f64 {
        (util::unix_now_ns() - self.epoch_unix_ns) as f64 / 1e6
    }

    /// Runs every phase; returns the phase runs (also when interrupted).
    fn execute(&mut self, report: &mut SoakReport) -> anyhow::Result<Vec<PhaseRun>> {
        crate::metrics::init_timeline(crate::metrics::Timeline {
            epoch: util::instant_of_unix_ns(self.epoch_unix_ns),
            windows: Vec::new(),
            spike_threshold_us: u64::MAX,
            wait_threshold_us: u64::MAX,
        });
        report.phases.push(self.fresh_phase()?);
        let samplers = samplers::Samplers::start(self.segment.db_path(), QUICK_CHECK_EVERY);
        let phases = self.timed_phases();
        let samples = samplers.stop();
        report.database.samples = samples.db_bytes.clone();
        report.integrity.quick_checks = samples.quick_checks.len() as u64;
        report.integrity.quick_check_failures = samples
            .quick_checks
            .iter()
            .filter(|(_, r)| r != "ok")
            .count() as u64;
        report.integrity.quick_check_results = samples
            .quick_checks
            .iter()
            .filter(|(_, r)| r != "ok")
            .map(|(t, r)| format!("{t:.1}s: {r}"))
            .collect();
        phases
    }

    /// Starts from an empty cache: no database file may exist.
    fn fresh_phase(&self) -> anyhow::Result<PhaseSummary> {
        let started = Instant::now();
        let db = self.segment.db_path();
        for suffix in ["", "-wal", "-shm"] {
            let mut path = db.as_os_str().to_owned();
            path.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(path));
        }
        anyhow::ensure!(
            !db.exists(),
            "could not start from a fresh database: {} still exists",
            db.display()
        );
        Ok(PhaseSummary {
            name: Phase::Fresh.as_str().into(),
            seconds: started.elapsed().as_secs_f64(),
            notes: "no database before the cold pass".into(),
            ..PhaseSummary::default()
        })
    }

    fn timed_phases(&mut self) -> anyhow::Result<Vec<PhaseRun>> {
        let mut runs = Vec::new();
        let warm_ms = (self.config.duration.as_millis() as f64 * 0.6) as u64;
        let mutation_ms = self.config.duration.as_millis() as u64 - warm_ms;
        let mut full_mix = self.config.mix.clone();
        if self.config.faults.has(Fault::Sources) {
            full_mix.push((OpKind::Fault, SOURCE_FAULT_WEIGHT));
        }
        let reading_mix: Vec<(OpKind, u32)> = full_mix
            .iter()
            .copied()
            .filter(|(k, _)| *k != OpKind::Mutate)
            .collect();
        for phase in [Phase::Cold, Phase::Warm, Phase::Mutation] {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let run = match phase {
                Phase::Warm => self.timed_phase(phase, warm_ms, reading_mix.clone())?,
                Phase::Mutation => self.timed_phase(phase, mutation_ms, full_mix.clone())?,
                _ => self.cold_phase()?,
            };
            let interrupted = run.interrupted;
            runs.push(run);
            if interrupted {
                break;
            }
        }
        Ok(runs)
    }

    fn cold_phase(&mut self) -> anyhow::Result<PhaseRun> {
        let processes = self.config.processes as usize;
        let mut shards = vec![Vec::new(); processes];
        for (i, file) in self.corpus.python.iter().enumerate() {
            shards[i % processes].push(file.clone());
        }
        let total = self.corpus.python.len() as u64;
        let specs = shards
            .into_iter()
            .enumerate()
            .map(|(i, files)| {
                self.worker_spec(i as u32, Phase::Cold, Plan::Shard { files }, Vec::new())
            })
            .collect();
        self.launch(
            Phase::Cold,
            specs,
            None,
            PhaseLength::Ops(total),
            Duration::from_secs(900),
            false,
        )
    }

    fn timed_phase(
        &mut self,
        phase: Phase,
        duration_ms: u64,
        mix: Vec<(OpKind, u32)>,
    ) -> anyhow::Result<PhaseRun> {
        let start_ms = self.offset_ms() + 100.0;
        let windows = match &self.config.interference {
            Some(i) => interference::plan_windows(
                start_ms,
                start_ms + duration_ms as f64,
                i.period.as_secs_f64() * 1000.0,
                i.window.as_secs_f64() * 1000.0,
            ),
            None => Vec::new(),
        };
        let widened = spawn::widened(&windows, assemble::WINDOW_SLACK_MS);
        let specs = (0..self.config.processes)
            .map(|i| {
                let plan = Plan::Timed {
                    duration_ms,
                    mix: mix.clone(),
                };
                self.worker_spec(i, phase, plan, widened.clone())
            })
            .collect();
        let interference = self.config.interference.as_ref().map(|i| InterferenceSpec {
            segment: self.segment.root.clone(),
            epoch_unix_ns: self.epoch_unix_ns,
            windows,
            dry_run: i.dry_run,
            result_path: self.control(&format!("{}-interference.json", phase.as_str())),
        });
        let limit = Duration::from_millis(duration_ms) + Duration::from_secs(120);
        self.launch(
            phase,
            specs,
            interference,
            PhaseLength::Time(Duration::from_millis(duration_ms)),
            limit,
            true,
        )
    }

    fn launch(
        &mut self,
        phase: Phase,
        specs: Vec<WorkerSpec>,
        interference: Option<InterferenceSpec>,
        length: PhaseLength,
        limit: Duration,
        with_faults: bool,
    ) -> anyhow::Result<PhaseRun> {
        let faults = with_faults.then_some(&mut self.faults);
        let mut launcher = PhaseLauncher {
            exe: &self.exe,
            workdir: &self.workdir,
            run_id: &self.run_id,
            stop: &self.stop,
            progress: &mut self.progress,
        };
        launcher.run_phase(phase, specs, interference, length, limit, faults)
    }

    fn control(&self, name: &str) -> PathBuf {
        self.workdir.join("control").join(name)
    }

    fn worker_spec(
        &self,
        worker: u32,
        phase: Phase,
        plan: Plan,
        windows: Vec<(f64, f64)>,
    ) -> WorkerSpec {
        WorkerSpec {
            worker,
            phase,
            segment: self.segment.root.clone(),
            manifest: self.manifest.clone(),
            threads: self.config.threads,
            seed: self.config.seed,
            plan,
            rate: self.config.rate,
            epoch_unix_ns: self.epoch_unix_ns,
            windows,
            spike_threshold_us: assemble::SPIKE_THRESHOLD_US,
            lock_timeout_ms: self.config.lock_timeout.as_millis() as u64,
            lock_wait_threshold_us: LOCK_WAIT_THRESHOLD_US,
            oracle_fraction: ORACLE_FRACTION,
            oracle_min: ORACLE_MIN,
            cli: self.cli.clone(),
            run_id: self.run_id.clone(),
            result_path: self.control(&format!("{}-worker-{worker}.json", phase.as_str())),
            faults: self
                .config
                .faults
                .faults
                .iter()
                .copied()
                .filter(|f| matches!(f, Fault::Sources | Fault::RogueClose))
                .collect(),
            quick_check_interval_ms: if self.config.faults.has(Fault::Corrupt) {
                CORRUPT_QUICK_CHECK_MS
            } else {
                3_600_000
            },
        }
    }

    /// Verification, verdict and report; returns the exit code.
    fn finish(
        &mut self,
        report: &mut SoakReport,
        outcome: anyhow::Result<Vec<PhaseRun>>,
        baseline: Option<(SoakReport, String)>,
    ) -> i32 {
        let interrupted = self.stop.load(Ordering::Relaxed);
        let (phases, harness_error) = match outcome {
            Ok(phases) => (phases, None),
            Err(err) => (Vec::new(), Some(format!("{err:#}"))),
        };
        let interrupted = interrupted || phases.iter().any(|p| p.interrupted);
        if let Err(err) = self.verify_and_fill(report, &phases) {
            report
                .warnings
                .push(format!("verification failed: {err:#}"));
            report.integrity.integrity_check = format!("not run: {err:#}");
        }
        if let Some(error) = &harness_error {
            report.warnings.push(format!("harness error: {error}"));
        }
        report.slos = slo::evaluate(&self.config.slos, report);
        let all_pass = report.slos.iter().all(|s| s.pass);
        report.complete = harness_error.is_none() && !interrupted;
        report.verdict = if all_pass && report.complete {
            "pass"
        } else {
            "fail"
        }
        .into();
        report.exit_code = if harness_error.is_some() {
            EXIT_HARNESS_ERROR
        } else if interrupted {
            EXIT_INTERRUPTED
        } else if all_pass {
            EXIT_PASS
        } else {
            EXIT_SLO_FAILED
        };
        if let Some((previous, source)) = baseline {
            report.baseline = Some(baseline::compare(&previous, report, &source));
        }
        report.environment.finished_at = environment::now_rfc3339();
        match report::write_all(report, &self.config.report_dir) {
            Ok(paths) => {
                for path in paths {
                    self.progress.note(&format!("wrote {}", path.display()));
                }
            }
            Err(err) => {
                eprintln!("soak: error: could not write the report: {err:#}");
                return EXIT_HARNESS_ERROR;
            }
        }
        self.print_verdict(report, harness_error.as_deref());
        report.exit_code
    }

    fn print_verdict(&self, report: &SoakReport, harness_error: Option<&str>) {
        for slo in report.slos.iter().filter(|s| !s.pass) {
            eprintln!(
                "soak: SLO failed: {} {} (measured {})",
                slo.name, slo.target, slo.measured_text
            );
        }
        if let Some(error) = harness_error {
            eprintln!("soak: error: {error}");
        }
        let state = if report.complete { "" } else { " (incomplete)" };
        eprintln!(
            "soak: verdict {}{state}: {} ops, {} errors, warm hit rate {:.1} %, get p95 {} us",
            report.verdict.to_uppercase(),
            report.ops.total,
            report.ops.errors,
            report.cache.hit_rate_warm * 100.0,
            report.latency_us.get("get").map_or(0, |l| l.p95)
        );
    }

    fn verify_and_fill(
        &mut self,
        report: &mut SoakReport,
        phases: &[PhaseRun],
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        assemble::fill_measurements(report, &self.config, phases)?;
        let waits = assemble::lock_waits_by_pid(phases, LOCK_WAIT_THRESHOLD_US)?;
        report.locks = assemble::lock_summary(phases, &waits, LOCK_WAIT_THRESHOLD_US);
        let corpus = CorpusSummary {
            source: self.corpus.source.clone(),
            python_files: self.corpus.python.len() as u64,
            markdown_files: self.corpus.markdown.len() as u64,
            bytes: self.corpus.bytes,
        };
        report.config = assemble::config_summary(&self.config, corpus, describe_cli(&self.cli));
        self.check_database(report)?;
        let results: Vec<_> = assemble::all_results(phases).cloned().collect();
        let workdir = self.workdir.display().to_string();
        let telemetry_dir = self.segment.root.join("_ctx").join("telemetry");
        let killed: Vec<u32> = self.faults.kills.iter().map(|k| k.pid).collect();
        let audit =
            verify::telemetry::audit(&telemetry_dir, &results, &waits, &[&workdir], &killed)?;
        self.faults.check_last();
        report.faults = fault_report::rows(&self.config.faults, phases, &self.faults, &audit);
        report.ops.killed = self.faults.kills.len() as u64;
        report.config.faults = self
            .config
            .faults
            .faults
            .iter()
            .map(|f| f.as_str().to_string())
            .collect();
        report.locks.wait_events_in_windows =
            self.wait_events_in_windows(phases, &audit.lock_waits);
        report.telemetry = audit.summary;
        if report.open_loop.as_ref().is_some_and(|o| o.saturated) {
            report.warnings.push(
                "the open-loop generator could not keep the rate (operations started late or were dropped): latencies from the intended start include that delay".into(),
            );
        }
        report
            .phases
            .extend(phases.iter().map(assemble::phase_summary));
        report.phases.push(PhaseSummary {
            name: Phase::Verification.as_str().into(),
            seconds: started.elapsed().as_secs_f64(),
            notes: format!(
                "integrity_check {}, {} telemetry lines audited",
                report.integrity.integrity_check, report.telemetry.lines
            ),
            ..PhaseSummary::default()
        });
        Ok(())
    }

    /// `lock_wait` events whose time falls in a held window (with the attribution slack). An
    /// event is written when its wait ends, which for a wait caused by a window is at the
    /// window's end.
    fn wait_events_in_windows(&self, phases: &[PhaseRun], waits: &[String]) -> u64 {
        let stamp = |ms: f64| environment::rfc3339_ms_at(self.epoch_unix_ns + (ms * 1e6) as i128);
        let windows: Vec<(String, String)> = phases
            .iter()
            .flat_map(|p| p.windows.iter().filter(|w| w.held))
            .map(|w| {
                (
                    stamp(w.start_ms - assemble::WINDOW_SLACK_MS),
                    stamp(w.end_ms + assemble::WINDOW_SLACK_MS),
                )
            })
            .collect();
        waits
            .iter()
            .filter(|ts| {
                windows.iter().any(|(start, end)| {
                    ts.as_str() >= start.as_str() && ts.as_str() <= end.as_str()
                })
            })
            .count() as u64
    }

    /// Final `integrity_check`, statistics and pragmas, through the library's own stack.
    fn check_database(&self, report: &mut SoakReport) -> anyhow::Result<()> {
        let db = self.segment.db_path();
        if let Some(bytes) = samplers::db_and_wal_bytes(&db) {
            report
                .database
                .samples
                .push((self.offset_ms() / 1000.0, bytes));
        }
        report.database.max_bytes = report
            .database
            .samples
            .iter()
            .map(|(_, b)| *b)
            .max()
            .unwrap_or(0);
        if !db.exists() {
            report.integrity = IntegritySummary {
                integrity_check: "no database was created".into(),
                ..std::mem::take(&mut report.integrity)
            };
            return Ok(());
        }
        let mut config = CacheConfig::new(self.segment.clone(), Telemetry::disabled());
        config.persist = Some(true);
        let stack = build_cache(config)?;
        let check = stack.cache.check(true)?;
        report.integrity.integrity_check = check.result.clone();
        report.integrity.ok = check.ok;
        if let Ok(stats) = stack.cache.stats() {
            report.cache.entries_end = stats.entries;
            report.cache.db_hit_rate = stats.hit_rate;
            report.database.end_db_bytes = stats.db_bytes;
            report.database.end_wal_bytes = stats.wal_bytes;
        }
        report.environment.pragmas = environment::pragmas(&db);
        Ok(())
    }
}
