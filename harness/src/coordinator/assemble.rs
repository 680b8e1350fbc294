//! Builds the [`SoakReport`] from what the phases, samplers and checks measured.

use std::collections::{BTreeMap, HashMap};

use super::spawn::PhaseRun;
use crate::args::RunConfig;
use crate::interference::ActualWindow;
use crate::metrics::{HistogramSet, Sample};
use crate::report::model::*;
use crate::worker::spec::{OpKind, Phase, WorkerResult};

/// Slack around a window when attributing waits and spikes to it.
pub const WINDOW_SLACK_MS: f64 = 50.0;
/// Operations at least this slow are "spikes" attributed to windows.
pub const SPIKE_THRESHOLD_US: u64 = 2_000;

type Encoded = std::collections::BTreeMap<String, String>;

/// Merges one kind of histogram across the results.
pub fn merge<'a>(
    results: impl IntoIterator<Item = &'a WorkerResult>,
    pick: fn(&WorkerResult) -> &Encoded,
) -> anyhow::Result<HistogramSet> {
    let mut merged = HistogramSet::default();
    for result in results {
        merged.merge(&HistogramSet::decode(pick(result))?);
    }
    Ok(merged)
}

/// All results of all phases.
pub fn all_results(phases: &[PhaseRun]) -> impl Iterator<Item = &WorkerResult> {
    phases.iter().flat_map(|p| p.results.iter())
}

fn phase_results(phases: &[PhaseRun], phase: Phase) -> impl Iterator<Item = &WorkerResult> {
    phases
        .iter()
        .filter(move |p| p.phase == phase)
        .flat_map(|p| p.results.iter())
}

/// Fills latency, open-loop, ops, phases, cache, oracle, memory and overhead sections.
pub fn fill_measurements(
    report: &mut SoakReport,
    config: &RunConfig,
    phases: &[PhaseRun],
) -> anyhow::Result<()> {
    let all = merge(all_results(phases), |r| &r.histograms)?;
    report.latency_us = all.summaries();
    report.latency_outside_windows_us =
        merge(all_results(phases), |r| &r.histograms_outside_windows)?.summaries();
    report.latency_warm_outside_windows_us = merge(phase_results(phases, Phase::Warm), |r| {
        &r.histograms_outside_windows
    })?
    .summaries();
    if let Some(rate) = config.rate {
        report.open_loop = Some(open_loop(rate, phases)?);
    }
    report.ops = ops_summary(phases);
    report.cache = cache_summary(phases);
    report.oracle = oracle_summary(phases);
    report.memory = memory_summary(phases);
    report.overhead = overhead_summary(phases, &all);
    Ok(())
}

fn open_loop(rate: f64, phases: &[PhaseRun]) -> anyhow::Result<OpenLoopSummary> {
    let timed = || all_results(phases).filter(|r| r.phase == "warm" || r.phase == "mutation");
    let corrected = merge(timed(), |r| &r.histograms_corrected)?;
    let mut uncorrected = merge(timed(), |r| &r.histograms)?;
    uncorrected
        .by_op
        .retain(|op, _| OpKind::parse(op).is_some());
    let lag = merge(timed(), |r| &r.histograms_lag)?;
    let schedule_lag_us = lag.summaries().remove("lag").unwrap_or_default();
    let dropped: u64 = timed().map(|r| r.dropped).sum();
    let interval_us = 1_000_000.0 / rate;
    Ok(OpenLoopSummary {
        rate,
        corrected_us: corrected.summaries(),
        uncorrected_us: uncorrected.summaries(),
        saturated: dropped > 0 || schedule_lag_us.p50 as f64 > interval_us,
        schedule_lag_us,
        dropped,
    })
}

fn ops_summary(phases: &[PhaseRun]) -> OpsSummary {
    let mut summary = OpsSummary::default();
    for result in all_results(phases) {
        for (op, n) in &result.ops {
            *summary.by_type.entry(op.clone()).or_default() += n;
            summary.total += n;
        }
        summary.errors += result.errors;
        summary.dropped += result.dropped;
        for sample in &result.error_samples {
            if summary.error_samples.len() < 20 {
                summary
                    .error_samples
                    .push(format!("[{} w{}] {sample}", result.phase, result.worker));
            }
        }
    }
    summary.soak_seconds = phases.iter().map(|p| p.seconds).sum();
    if summary.soak_seconds > 0.0 {
        summary.ops_per_second = summary.total as f64 / summary.soak_seconds;
    }
    summary
}

fn hit_rate(hits: u64, misses: u64) -> f64 {
    if hits + misses == 0 {
        0.0
    } else {
        hits as f64 / (hits + misses) as f64
    }
}

/// Operations, hit rate and errors of one phase.
pub fn phase_summary(run: &PhaseRun) -> PhaseSummary {
    let sum = |f: fn(&WorkerResult) -> u64| run.results.iter().map(f).sum::<u64>();
    let hits = sum(|r| r.hits) + sum(|r| r.cli_hits);
    let misses = sum(|r| r.misses) + sum(|r| r.cli_misses);
    PhaseSummary {
        name: run.phase.as_str().to_string(),
        seconds: run.seconds,
        ops: sum(|r| r.ops.values().sum()),
        hits,
        misses,
        stale: sum(|r| r.stale),
        hit_rate: hit_rate(hits, misses),
        errors: sum(|r| r.errors),
        notes: if run.interrupted {
            "interrupted".into()
        } else {
            String::new()
        },
    }
}

fn cache_summary(phases: &[PhaseRun]) -> CacheSummary {
    let rate_of = |phase: Phase| {
        let (h, m) = phases
            .iter()
            .filter(|p| p.phase == phase)
            .flat_map(|p| p.results.iter())
            .fold((0, 0), |(h, m), r| {
                (h + r.hits + r.cli_hits, m + r.misses + r.cli_misses)
            });
        hit_rate(h, m)
    };
    let sum = |f: fn(&WorkerResult) -> u64| all_results(phases).map(f).sum::<u64>();
    CacheSummary {
        hit_rate_cold: rate_of(Phase::Cold),
        hit_rate_warm: rate_of(Phase::Warm),
        hit_rate_mutation: rate_of(Phase::Mutation),
        hits: sum(|r| r.hits) + sum(|r| r.cli_hits),
        misses: sum(|r| r.misses) + sum(|r| r.cli_misses),
        stale: sum(|r| r.stale),
        evictions: sum(|r| r.evictions),
        busy_retries: sum(|r| r.busy_retries),
        ..CacheSummary::default()
    }
}

fn oracle_summary(phases: &[PhaseRun]) -> OracleSummary {
    let mut summary = OracleSummary::default();
    for result in all_results(phases) {
        summary.hits_total += result.oracle.hits_total;
        summary.hits_verified += result.oracle.hits_verified;
        summary.wrong_hits += result.oracle.wrong_hits;
        summary
            .wrong_hit_samples
            .extend(result.oracle.wrong_samples.iter().cloned());
    }
    if summary.hits_total > 0 {
        summary.sample_fraction = summary.hits_verified as f64 / summary.hits_total as f64;
    }
    summary
}

/// Memory after warm-up (the sample at 25 % of the worker's run, at least 2 s in) against the
/// peak afterwards, for the timed phases.
fn memory_summary(phases: &[PhaseRun]) -> MemorySummary {
    let mut summary = MemorySummary::default();
    for result in all_results(phases).filter(|r| r.phase == "warm" || r.phase == "mutation") {
        let warm_after = (result.seconds * 0.25).max(2.0);
        let Some(&(_, base)) = result.rss_samples.iter().find(|(t, _)| *t >= warm_after) else {
            continue;
        };
        let peak = result
            .rss_samples
            .iter()
            .filter(|(t, _)| *t >= warm_after)
            .map(|(_, kib)| *kib)
            .max()
            .unwrap_or(base);
        let growth = if base == 0 {
            0.0
        } else {
            (peak as f64 - base as f64) / base as f64 * 100.0
        };
        summary.max_growth_pct = summary.max_growth_pct.max(growth);
        summary.workers.push(WorkerMemory {
            worker: result.worker,
            phase: result.phase.clone(),
            rss_after_warmup_kib: base,
            rss_peak_kib: peak,
            growth_pct: growth,
        });
    }
    summary
}

/// Recording cost per operation (calibrated in each worker) against operation time. Every
/// recorded histogram value costs one recording.
fn overhead_summary(phases: &[PhaseRun], all: &HistogramSet) -> OverheadSummary {
    let results: Vec<&WorkerResult> = all_results(phases).collect();
    if results.is_empty() {
        return OverheadSummary::default();
    }
    let per_record =
        results.iter().map(|r| r.bookkeeping_ns_per_op).sum::<f64>() / results.len() as f64;
    let records: u64 = all.by_op.values().map(|h| h.len()).sum();
    let ops: u64 = results.iter().map(|r| r.ops.values().sum::<u64>()).sum();
    let op_ns: f64 = results.iter().map(|r| r.op_time_ns as f64).sum();
    if ops == 0 || op_ns == 0.0 {
        return OverheadSummary::default();
    }
    OverheadSummary {
        bookkeeping_ns_per_op: per_record * records as f64 / ops as f64,
        op_ns_mean: op_ns / ops as f64,
        ratio_pct: per_record * records as f64 / op_ns * 100.0,
    }
}

/// Lock waits at or above the threshold per worker process (what must appear as events).
pub fn lock_waits_by_pid(
    phases: &[PhaseRun],
    threshold_us: u64,
) -> anyhow::Result<HashMap<u32, u64>> {
    let mut by_pid = HashMap::new();
    for result in all_results(phases) {
        let set = HistogramSet::decode(&result.histograms)?;
        let waits = set.by_op.get("lock_wait").map_or(0, |h| {
            h.count_between(threshold_us, h.max().max(threshold_us))
        });
        *by_pid.entry(result.pid).or_default() += waits;
    }
    Ok(by_pid)
}

/// Lock contention: waits and spikes attributed to the windows that really happened.
pub fn lock_summary(
    phases: &[PhaseRun],
    by_pid: &HashMap<u32, u64>,
    threshold_us: u64,
) -> LockSummary {
    let mut summary = LockSummary {
        lock_waits: by_pid.values().sum(),
        lock_timeouts: all_results(phases).map(|r| r.lock_timeouts).sum(),
        wait_threshold_us: threshold_us,
        spike_threshold_us: SPIKE_THRESHOLD_US,
        ..LockSummary::default()
    };
    let windows: Vec<(&ActualWindow, &str)> = phases
        .iter()
        .flat_map(|p| p.windows.iter().map(move |w| (w, p.phase.as_str())))
        .collect();
    let mut rows: Vec<WindowSummary> = windows
        .iter()
        .map(|(w, phase)| WindowSummary {
            kind: if w.held {
                w.kind.as_str().to_string()
            } else {
                format!("{} (not held)", w.kind.as_str())
            },
            start_ms: w.start_ms,
            duration_ms: w.end_ms - w.start_ms,
            phase: phase.to_string(),
            ..WindowSummary::default()
        })
        .collect();
    let locate = |sample: &Sample| {
        windows.iter().position(|(w, _)| {
            w.held
                && sample.at_ms >= w.start_ms - WINDOW_SLACK_MS
                && sample.at_ms <= w.end_ms + WINDOW_SLACK_MS
        })
    };
    for result in all_results(phases) {
        for wait in &result.waits {
            match locate(wait) {
                Some(i) => {
                    summary.waits_in_windows += 1;
                    rows[i].waits += 1;
                    rows[i].max_wait_us = rows[i].max_wait_us.max(wait.micros);
                }
                None => summary.waits_outside_windows += 1,
            }
        }
        for spike in &result.spikes {
            match locate(spike) {
                Some(i) => {
                    summary.spikes_in_windows += 1;
                    rows[i].spikes += 1;
                }
                None => summary.spikes_outside_windows += 1,
            }
        }
    }
    summary.windows = rows;
    summary
}

/// Config section of the report.
pub fn config_summary(
    config: &RunConfig,
    corpus: CorpusSummary,
    cli_binary: String,
) -> ConfigSummary {
    ConfigSummary {
        profile: config.profile.name().to_string(),
        processes: config.processes,
        threads: config.threads,
        seed: config.seed,
        duration_s: config.duration.as_secs_f64(),
        rate: config.rate,
        mix: config
            .mix
            .iter()
            .map(|(k, w)| (k.as_str().to_string(), *w))
            .collect::<BTreeMap<_, _>>(),
        corpus,
        interference: config.interference.is_some(),
        faults: Vec::new(),
        cli_binary,
        command: config.command.clone(),
        slo_overrides: config.slo_overrides.clone(),
    }
}
