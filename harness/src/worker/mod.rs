//! A worker process: runs one phase's operations on a rayon pool and reports its metrics.

mod ops;
pub mod spec;

use anyhow::Context;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trifecta::analysis::Analyzer;
use trifecta::cache::LockConfig;
use trifecta::segment::Segment;
use trifecta::telemetry::{Level, Telemetry, TelemetryConfig};

use crate::corpus::Corpus;
use crate::faults::Fault;
use crate::faults::rogue::RogueCloser;
use crate::metrics::{self, ThreadMetrics, Timeline};
use crate::stack::{self, CacheCounts, SoakStack};
use crate::{signals, util};
use spec::{OpKind, OracleCounts, Plan, SourceFaultCount, WorkerResult, WorkerSpec};
use std::collections::BTreeMap;

/// Most error messages kept as samples.
const MAX_ERROR_SAMPLES: usize = 20;
/// How often a worker prints its progress line.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Counters shared by a worker's threads.
#[derive(Default)]
pub struct WorkerCounters {
    ops: [AtomicU64; 5],
    errors: AtomicU64,
    error_samples: Mutex<Vec<String>>,
    cli_hits: AtomicU64,
    cli_misses: AtomicU64,
    dropped: AtomicU64,
    op_time_ns: AtomicU64,
    oracle: Mutex<OracleCounts>,
    source_faults: Mutex<BTreeMap<String, SourceFaultCount>>,
}

impl WorkerCounters {
    fn op_index(kind: OpKind) -> usize {
        OpKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
    }

    /// Counts one finished operation and its duration.
    pub fn count_op(&self, kind: OpKind, elapsed: Duration) {
        self.ops[Self::op_index(kind)].fetch_add(1, Ordering::Relaxed);
        self.op_time_ns
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Counts an error and keeps the first messages.
    pub fn error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.error_samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() < MAX_ERROR_SAMPLES {
            samples.push(message);
        }
    }

    fn total_ops(&self) -> u64 {
        self.ops.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// Everything the operations of one worker share.
pub struct WorkerContext {
    pub spec: WorkerSpec,
    pub corpus: Corpus,
    /// Files that name an importable module (usable by `cli` operations).
    pub modules: Vec<(String, String)>,
    pub analyzer: Analyzer,
    pub counters: WorkerCounters,
    pub stop: Arc<AtomicBool>,
}

/// Entry point of `soak __worker <spec.json>`.
pub fn run(spec_path: &Path) -> anyhow::Result<()> {
    let spec: WorkerSpec = util::read_json(spec_path)?;
    util::limit_malloc_arenas();
    let stop = signals::stop_flag()?;
    metrics::init_timeline(Timeline {
        epoch: util::instant_of_unix_ns(spec.epoch_unix_ns),
        windows: spec.windows.clone(),
        spike_threshold_us: spec.spike_threshold_us,
        wait_threshold_us: spec.lock_wait_threshold_us,
    });
    let bookkeeping_ns = metrics::calibrate_bookkeeping_ns();
    let corpus = Corpus::read_manifest(&spec.manifest).context("reading the corpus manifest")?;
    let segment = Segment::open(&spec.segment)?;
    let telemetry = Telemetry::open(&TelemetryConfig::from_env(
        &segment.root,
        &segment.id,
        Level::Lite,
    ))
    .context("opening telemetry")?;
    let lock = LockConfig {
        timeout: Duration::from_millis(spec.lock_timeout_ms),
        wait_threshold: Duration::from_micros(spec.lock_wait_threshold_us),
    };
    let SoakStack {
        stack,
        counts,
        busy_retries,
    } = stack::build(
        &segment,
        telemetry,
        lock,
        Duration::from_millis(spec.quick_check_interval_ms),
    )?;
    let rogue = spec
        .faults
        .contains(&Fault::RogueClose)
        .then(|| RogueCloser::start(segment.db_path()));
    let modules = ops::importable_modules(&corpus.python);
    let context = Arc::new(WorkerContext {
        spec,
        corpus,
        modules,
        analyzer: Analyzer::new(segment, stack),
        counters: WorkerCounters::default(),
        stop,
    });
    let started = Instant::now();
    let rss_samples = Arc::new(Mutex::new(Vec::new()));
    let reporter = spawn_progress(context.clone(), rss_samples.clone(), started);
    let metrics = run_plan(&context)?;
    let seconds = started.elapsed().as_secs_f64();
    reporter.finish();
    let mut result = build_result(
        &context,
        metrics,
        &counts,
        &busy_retries,
        rss_samples,
        bookkeeping_ns,
        seconds,
    )?;
    result.rogue_closes = rogue.map_or(0, RogueCloser::stop);
    util::write_json_atomic(&context.spec.result_path, &result)
}

/// Runs the plan on a pool of `threads` threads and collects every thread's metrics.
fn run_plan(context: &Arc<WorkerContext>) -> anyhow::Result<ThreadMetrics> {
    let threads = context.spec.threads.max(1) as usize;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("building the worker thread pool")?;
    pool.scope(|scope| match &context.spec.plan {
        Plan::Shard { files } => {
            let chunk = files.len().div_ceil(threads).max(1);
            for (thread, part) in files.chunks(chunk).enumerate() {
                let context = context.clone();
                scope.spawn(move |_| ops::shard_loop(&context, thread as u64, part));
            }
        }
        Plan::Timed { duration_ms, mix } => {
            let deadline = Instant::now() + Duration::from_millis(*duration_ms);
            for thread in 0..threads {
                let context = context.clone();
                let mix = mix.clone();
                scope.spawn(move |_| ops::timed_loop(&context, thread as u64, &mix, deadline));
            }
        }
    });
    let mut merged = ThreadMetrics::default();
    for part in pool.broadcast(|_| metrics::take_local()) {
        merged.merge(part);
    }
    merged.merge(metrics::take_local());
    Ok(merged)
}

fn build_result(
    context: &WorkerContext,
    metrics: ThreadMetrics,
    counts: &CacheCounts,
    busy_retries: &AtomicU64,
    rss_samples: Arc<Mutex<Vec<(f64, u64)>>>,
    bookkeeping_ns: f64,
    seconds: f64,
) -> anyhow::Result<WorkerResult> {
    let c = &context.counters;
    let ops = OpKind::ALL
        .iter()
        .map(|k| {
            (
                k.as_str().to_string(),
                c.ops[WorkerCounters::op_index(*k)].load(Ordering::Relaxed),
            )
        })
        .collect();
    let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let cli_hits = get(&c.cli_hits);
    let cli_misses = get(&c.cli_misses);
    Ok(WorkerResult {
        worker: context.spec.worker,
        phase: context.spec.phase.as_str().to_string(),
        pid: std::process::id(),
        completed: !context.stop.load(Ordering::Relaxed),
        ops,
        errors: get(&c.errors) + get(&counts.errors),
        error_samples: c
            .error_samples
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default(),
        gets: get(&counts.gets),
        puts: get(&counts.puts),
        hits: get(&counts.hits),
        misses: get(&counts.misses),
        stale: get(&counts.stale),
        evict_events: get(&counts.evict_events),
        evictions: get(&counts.evictions),
        lock_timeouts: get(&counts.lock_timeouts),
        busy_retries: busy_retries.load(Ordering::Relaxed),
        recovered: get(&counts.recovered),
        cli_ops: cli_hits + cli_misses,
        cli_hits,
        cli_misses,
        histograms: metrics.all.encode()?,
        histograms_outside_windows: metrics.outside_windows.encode()?,
        histograms_corrected: metrics.corrected.encode()?,
        histograms_lag: metrics.schedule_lag.encode()?,
        dropped: get(&c.dropped),
        waits: metrics.waits,
        spikes: metrics.spikes,
        oracle: c.oracle.lock().map(|o| o.clone()).unwrap_or_default(),
        rss_samples: rss_samples.lock().map(|s| s.clone()).unwrap_or_default(),
        bookkeeping_ns_per_op: bookkeeping_ns,
        op_time_ns: u128::from(get(&c.op_time_ns)),
        seconds,
        source_faults: c
            .source_faults
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default(),
        rogue_closes: 0,
    })
}

/// Prints `{"ops":N,"errors":E}` lines for the coordinator and samples resident memory.
struct ProgressReporter {
    done: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ProgressReporter {
    fn finish(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn spawn_progress(
    context: Arc<WorkerContext>,
    rss_samples: Arc<Mutex<Vec<(f64, u64)>>>,
    started: Instant,
) -> ProgressReporter {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let handle = std::thread::spawn(move || {
        let mut tick = 0u64;
        loop {
            let finished = flag.load(Ordering::Relaxed);
            let c = &context.counters;
            println!(
                "{{\"ops\":{},\"errors\":{}}}",
                c.total_ops(),
                c.errors.load(Ordering::Relaxed)
            );
            if tick.is_multiple_of(2)
                && let Some(kib) = util::resident_kib()
            {
                rss_samples
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((started.elapsed().as_secs_f64(), kib));
            }
            if finished {
                break;
            }
            tick += 1;
            util::sleep_unless(&flag, PROGRESS_EVERY);
        }
    });
    ProgressReporter {
        done,
        handle: Some(handle),
    }
}
