//! The operations a worker runs and the loops that schedule them.

use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use trifecta::analysis::{AnalyzeError, CacheStatus, FileSymbols};
use trifecta::search::{self, Query};
use trifecta::symbols;

use super::WorkerContext;
use super::spec::OpKind;
use crate::faults::Fault;
use crate::faults::sources::{self, Expected, SourceMode};
use crate::{corpus, metrics, util};

/// Segment-relative files that name an importable module, with their dotted module name.
pub fn importable_modules(python: &[String]) -> Vec<(String, String)> {
    python
        .iter()
        .filter_map(|rel| module_name(rel).map(|m| (rel.clone(), m)))
        .collect()
}

/// `pkg/sub/mod.py` → `pkg.sub.mod`, `pkg/__init__.py` → `pkg`; None when a part is not an
/// identifier.
fn module_name(rel: &str) -> Option<String> {
    let stem = rel.strip_suffix(".py")?;
    let stem = stem.strip_suffix("/__init__").unwrap_or(stem);
    let parts: Vec<&str> = stem.split('/').collect();
    let valid = parts.iter().all(|p| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
            && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
    });
    (valid && stem != "__init__").then(|| parts.join("."))
}

fn thread_rng(context: &WorkerContext, thread: u64) -> fastrand::Rng {
    let spec = &context.spec;
    let phase = spec.phase as u64;
    fastrand::Rng::with_seed(
        spec.seed
            ^ (u64::from(spec.worker) << 40)
            ^ (phase << 32)
            ^ thread.wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// The cold pass: one `symbols` operation per file of this thread's share.
pub fn shard_loop(context: &WorkerContext, thread: u64, files: &[String]) {
    let mut rng = thread_rng(context, thread);
    for rel in files {
        if context.stop.load(Ordering::Relaxed) {
            return;
        }
        let started = Instant::now();
        let ended = symbols_op(context, rel, &mut rng);
        finish(context, OpKind::Symbols, started, ended, None);
    }
}

/// Operations drawn from `mix` until `deadline` (closed loop), or on a fixed schedule when the
/// spec sets a rate (open loop: latency also measured from each operation's intended start).
pub fn timed_loop(context: &WorkerContext, thread: u64, mix: &[(OpKind, u32)], deadline: Instant) {
    let mut rng = thread_rng(context, thread);
    let total_weight: u32 = mix.iter().map(|(_, w)| w).sum();
    let interval = context
        .spec
        .rate
        .map(|rate| Duration::from_secs_f64(f64::from(context.spec.threads.max(1)) / rate));
    let mut next = Instant::now();
    while !context.stop.load(Ordering::Relaxed) {
        let intended = match interval {
            Some(interval) => {
                let intended = next;
                next += interval;
                if intended >= deadline {
                    break;
                }
                wait_until(context, intended);
                Some(intended)
            }
            None => None,
        };
        if Instant::now() >= deadline {
            count_dropped(context, intended, interval, deadline);
            break;
        }
        let kind = pick(mix, total_weight, &mut rng);
        let started = Instant::now();
        let ended = run_op(context, kind, &mut rng);
        finish(context, kind, started, ended, intended);
    }
}

fn wait_until(context: &WorkerContext, at: Instant) {
    let now = Instant::now();
    if at > now {
        util::sleep_unless(&context.stop, at - now);
    }
}

/// Scheduled operations that never started because the generator fell behind.
fn count_dropped(
    context: &WorkerContext,
    intended: Option<Instant>,
    interval: Option<Duration>,
    deadline: Instant,
) {
    if let (Some(intended), Some(interval)) = (intended, interval) {
        let behind = deadline.saturating_duration_since(intended);
        let missed = (behind.as_secs_f64() / interval.as_secs_f64()).ceil() as u64;
        context
            .counters
            .dropped
            .fetch_add(missed, Ordering::Relaxed);
    }
}

fn pick(mix: &[(OpKind, u32)], total_weight: u32, rng: &mut fastrand::Rng) -> OpKind {
    let mut roll = rng.u32(0..total_weight.max(1));
    for (kind, weight) in mix {
        if roll < *weight {
            return *kind;
        }
        roll -= weight;
    }
    OpKind::Symbols
}

/// Records an operation that ran from `started` to `ended` (the harness's own checks after
/// `ended`, such as the oracle's re-parse, are not part of it).
fn finish(
    context: &WorkerContext,
    kind: OpKind,
    started: Instant,
    ended: Instant,
    intended: Option<Instant>,
) {
    metrics::record_op(kind.as_str(), started, ended);
    if let Some(intended) = intended {
        metrics::record_open_loop(kind.as_str(), intended, started, ended);
    }
    context.counters.count_op(kind, ended - started);
}

/// Runs one operation; returns when its measured part ended.
fn run_op(context: &WorkerContext, kind: OpKind, rng: &mut fastrand::Rng) -> Instant {
    match kind {
        OpKind::Symbols => {
            let rel = &context.corpus.python[rng.usize(0..context.corpus.python.len())];
            return symbols_op(context, rel, rng);
        }
        OpKind::Search => search_op(context, rng),
        OpKind::Cli => cli_op(context, rng),
        OpKind::Mutate => mutate_op(context, rng),
        OpKind::Fault => fault_op(context, rng),
    }
    Instant::now()
}

/// Symbols of one file through the cache; a sample of hits is re-parsed by the oracle after
/// the measured part, which is over at the returned instant.
fn symbols_op(context: &WorkerContext, rel: &str, rng: &mut fastrand::Rng) -> Instant {
    let path = context.analyzer.segment.root.join(rel);
    let outcome = context.analyzer.symbols(&path);
    let ended = Instant::now();
    match outcome {
        Ok(found) if found.status == CacheStatus::Hit => check_with_oracle(context, &found, rng),
        Ok(_) => {}
        Err(err) => context.counters.error(format!("symbols {rel}: {err}")),
    }
    ended
}

/// A hit after a hostile edit: always re-parsed and compared; true when it was wrong.
fn verify_hit(context: &WorkerContext, found: &FileSymbols) -> bool {
    context
        .counters
        .oracle
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .hits_total += 1;
    compare_with_fresh_parse(context, found, " (after a hostile edit)")
}

/// A hostile source edit, then a lookup of the touched file, which must give the expected
/// answer; a hit is always re-parsed and compared.
fn fault_op(context: &WorkerContext, rng: &mut fastrand::Rng) {
    let mode = SourceMode::ALL[rng.usize(0..SourceMode::ALL.len())];
    let seq = rng.u64(..);
    let root = &context.analyzer.segment.root;
    let target = match sources::apply(
        root,
        &context.corpus.python,
        context.spec.worker,
        seq,
        mode,
        rng,
    ) {
        Ok(target) => target,
        Err(err) => {
            return context
                .counters
                .error(format!("fault {}: {err:#}", mode.as_str()));
        }
    };
    let outcome = context.analyzer.symbols(&root.join(&target.rel));
    let wrong = match &outcome {
        Ok(found) if found.status == CacheStatus::Hit => verify_hit(context, found),
        _ => false,
    };
    let as_expected = matches!(
        (target.expected, &outcome),
        (Expected::Answer, Ok(_))
            | (Expected::NotPython, Err(AnalyzeError::NotPython(_)))
            | (Expected::TooLarge, Err(AnalyzeError::TooLarge { .. }))
    );
    let mut faults = context
        .counters
        .source_faults
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let entry = faults.entry(mode.as_str().to_string()).or_default();
    entry.injected += 1;
    entry.wrong_hits += u64::from(wrong);
    if as_expected {
        entry.answered += 1;
    } else {
        entry.unexpected += 1;
        drop(faults);
        let got = match &outcome {
            Ok(_) => "symbols".to_string(),
            Err(err) => err.to_string(),
        };
        context.counters.error(format!(
            "fault {} on {}: expected {:?}, got {got}",
            mode.as_str(),
            target.rel,
            target.expected
        ));
    }
}

/// Counts a hit and, for the first `oracle_min` hits and a fraction after that, re-parses
/// and compares.
fn check_with_oracle(context: &WorkerContext, found: &FileSymbols, rng: &mut fastrand::Rng) {
    let due = {
        let mut oracle = context
            .counters
            .oracle
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        oracle.hits_total += 1;
        oracle.hits_verified < context.spec.oracle_min || rng.f64() < context.spec.oracle_fraction
    };
    if due {
        compare_with_fresh_parse(context, found, "");
    }
}

/// Re-parses the bytes a hit was looked up with and compares: a difference is a wrong hit.
fn compare_with_fresh_parse(context: &WorkerContext, found: &FileSymbols, note: &str) -> bool {
    let fresh = symbols::extract(&found.source);
    let wrong = fresh != *found.table;
    let mut oracle = context
        .counters
        .oracle
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    oracle.hits_verified += 1;
    if wrong {
        oracle.wrong_hits += 1;
        if oracle.wrong_samples.len() < 10 {
            oracle.wrong_samples.push(format!(
                "{} key {}: cached {} symbols, fresh parse {}{note}",
                found.file_rel,
                found.key,
                found.table.symbols.len(),
                fresh.symbols.len()
            ));
        }
    }
    wrong
}

fn search_op(context: &WorkerContext, rng: &mut fastrand::Rng) {
    let queries = &context.corpus.queries;
    let text = &queries[rng.usize(0..queries.len())];
    match Query::parse(text) {
        Ok(query) => {
            let outcome = search::search_segment(&context.analyzer, &query, 10);
            // Hostile sources (binary, huge) are skipped by design when that fault is on.
            if outcome.files_skipped > 0 && !context.spec.faults.contains(&Fault::Sources) {
                context.counters.error(format!(
                    "search '{text}': {} files skipped",
                    outcome.files_skipped
                ));
            }
        }
        Err(err) => context.counters.error(format!("search '{text}': {err}")),
    }
}

/// One real `trifecta ast symbols` process, end to end.
fn cli_op(context: &WorkerContext, rng: &mut fastrand::Rng) {
    if context.modules.is_empty() {
        context
            .counters
            .error("cli: no importable module in the corpus".into());
        return;
    }
    let (rel, module) = &context.modules[rng.usize(0..context.modules.len())];
    let cli = &context.spec.cli;
    let output = Command::new(&cli.program)
        .args(&cli.prefix)
        .args([
            "ast",
            "symbols",
            &format!("sym://python/mod/{module}"),
            "--segment",
        ])
        .arg(&context.analyzer.segment.root)
        .env_remove("TRIFECTA_TELEMETRY_DIR")
        .env_remove("TRIFECTA_NO_TELEMETRY")
        .env_remove("TRIFECTA_AST_PERSIST")
        .env("TRIFECTA_RUN_ID", &context.spec.run_id)
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            return context
                .counters
                .error(format!("cli {rel}: could not start: {err}"));
        }
    };
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let counters = &context.counters;
    match (output.status.success(), answer["cache_status"].as_str()) {
        (true, Some("hit")) => {
            counters.cli_hits.fetch_add(1, Ordering::Relaxed);
        }
        (true, Some(_)) => {
            counters.cli_misses.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            counters.error(format!(
                "cli {rel}: exit {:?}: {} {}",
                output.status.code(),
                answer["message"].as_str().unwrap_or(""),
                stderr.trim()
            ));
        }
    };
}

fn mutate_op(context: &WorkerContext, rng: &mut fastrand::Rng) {
    let python = &context.corpus.python;
    let rel = &python[rng.usize(0..python.len())];
    if let Err(err) = corpus::mutate_file(&context.analyzer.segment.root, rel, rng) {
        context.counters.error(format!("mutate {rel}: {err:#}"));
    }
}
