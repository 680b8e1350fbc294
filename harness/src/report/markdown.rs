//! The Markdown audit report, `reports/ast_soak_run.md`.
//!
//! Every figure comes from the [`SoakReport`]; a section without data says so in plain words
//! instead of showing zeros that look measured.

use super::format::{bytes, count, kib, micros, percent, quantity, ratio, seconds, times};
use super::model::{
    BaselineComparison, LatencySummary, OpenLoopSummary, SloResult, SoakReport, WindowSummary,
};
use super::{GROWTH_SVG, LATENCY_SVG, op_order, ordered};
use crate::slo;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The second-level headings of the report, in order. Every one is always present.
pub const SECTION_HEADINGS: [&str; 20] = [
    "Verdict",
    "Configuration",
    "Environment",
    "Operations",
    "Latency",
    "Open-loop load",
    "Phases",
    "Cache hit rate",
    "Lock contention",
    "Integrity",
    "Oracle",
    "Telemetry audit",
    "Faults",
    "Database growth",
    "Memory",
    "Harness overhead",
    "Baseline comparison",
    "Warnings",
    "Reproduce",
    "About this report",
];

/// The banner shown under the title of an incomplete run.
pub const INCOMPLETE_BANNER: &str = "INCOMPLETE RUN";

/// At most this many interference windows are listed; the JSON twin has them all.
const MAX_WINDOW_ROWS: usize = 50;
/// At most this many samples (errors, wrong hits, quick_check results) are listed.
const MAX_SAMPLES: usize = 10;

/// Renders the whole audit report.
pub fn render(report: &SoakReport) -> String {
    let mut doc = Doc::default();
    title(&mut doc, report);
    let sections: [fn(&mut Doc, &SoakReport); 20] = [
        verdict,
        configuration,
        environment,
        operations,
        latency,
        open_loop,
        phases,
        cache,
        locks,
        integrity,
        oracle,
        telemetry,
        faults,
        database,
        memory,
        overhead,
        baseline,
        warnings,
        reproduce,
        about,
    ];
    for (heading, section) in SECTION_HEADINGS.iter().zip(sections) {
        doc.heading(2, heading);
        section(&mut doc, report);
    }
    doc.finish()
}

/// A Markdown document under construction.
#[derive(Default)]
struct Doc {
    out: String,
}

impl Doc {
    fn heading(&mut self, level: usize, text: &str) {
        let _ = writeln!(self.out, "{} {text}\n", "#".repeat(level));
    }

    fn para(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}\n");
    }

    fn bullets<I: IntoIterator<Item = String>>(&mut self, items: I) {
        for item in items {
            let _ = writeln!(self.out, "- {item}");
        }
        self.out.push('\n');
    }

    /// A table; columns after the first are right-aligned when `numeric` says so.
    fn table(&mut self, header: &[&str], numeric: &[bool], rows: &[Vec<String>]) {
        let _ = writeln!(self.out, "| {} |", header.join(" | "));
        let align: Vec<&str> = (0..header.len())
            .map(|i| match numeric.get(i) {
                Some(true) => "---:",
                _ => "---",
            })
            .collect();
        let _ = writeln!(self.out, "| {} |", align.join(" | "));
        for row in rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            let _ = writeln!(self.out, "| {} |", cells.join(" | "));
        }
        self.out.push('\n');
    }

    /// A two-column "what / value" table.
    fn facts(&mut self, rows: &[(&str, String)]) {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|(k, v)| vec![k.to_string(), v.clone()])
            .collect();
        self.table(&["", "Value"], &[false, false], &rows);
    }

    fn code(&mut self, text: &str) {
        let fence = if text.contains("```") { "~~~" } else { "```" };
        let _ = writeln!(self.out, "{fence}sh\n{text}\n{fence}\n");
    }

    fn finish(self) -> String {
        let mut out = self.out.trim_end().to_string();
        out.push('\n');
        out
    }
}

/// Makes text safe for a table cell: no pipes, no line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// Inline code, safe for any text (used for messages, commands, paths).
fn code(text: &str) -> String {
    let text = text.replace('`', "'");
    let text = text.replace(['\r', '\n'], " ");
    if text.is_empty() {
        "(empty)".to_string()
    } else {
        format!("`{text}`")
    }
}

fn or_unknown(text: &str) -> String {
    if text.trim().is_empty() {
        "not recorded".to_string()
    } else {
        text.to_string()
    }
}

fn code_or_unknown(text: &str) -> String {
    if text.trim().is_empty() {
        "not recorded".to_string()
    } else {
        code(text)
    }
}

fn yes_no(flag: bool) -> String {
    if flag { "on" } else { "off" }.to_string()
}

fn title(doc: &mut Doc, r: &SoakReport) {
    let verdict = if r.verdict.is_empty() {
        "NO VERDICT".to_string()
    } else {
        r.verdict.to_uppercase()
    };
    if r.complete {
        doc.heading(1, &format!("AST cache soak run: {verdict}"));
    } else {
        doc.heading(1, &format!("AST cache soak run: INCOMPLETE ({verdict})"));
        doc.para(&format!(
            "> **{INCOMPLETE_BANNER}.** The run was interrupted or cut short by a harness error \
             before it finished. The figures below cover only the part that ran; do not treat \
             this report as a pass."
        ));
    }
    let passed = r.slos.iter().filter(|s| s.pass).count();
    doc.para(&format!(
        "Profile **{}**, {} processes × {} threads, seed {}: {} operations in {}. \
         {passed} of {} SLOs hold; exit code {}.",
        or_unknown(&r.config.profile),
        r.config.processes,
        r.config.threads,
        r.config.seed,
        count(r.ops.total),
        seconds(r.ops.soak_seconds),
        r.slos.len(),
        r.exit_code,
    ));
}

fn verdict(doc: &mut Doc, r: &SoakReport) {
    if r.slos.is_empty() {
        doc.para("No SLOs were evaluated, so nothing supports a pass.");
        return;
    }
    let rows: Vec<Vec<String>> = r.slos.iter().map(slo_row).collect();
    doc.table(
        &["SLO", "Target", "Measured", "Result"],
        &[false, false, true, false],
        &rows,
    );
    let failed: Vec<String> = r
        .slos
        .iter()
        .filter(|s| !s.pass)
        .map(|s| code(&s.name))
        .collect();
    if failed.is_empty() {
        doc.para("Every SLO holds.");
    } else {
        doc.para(&format!("Failed: {}.", failed.join(", ")));
    }
}

fn slo_row(s: &SloResult) -> Vec<String> {
    vec![
        code(&s.name),
        code(&s.target),
        s.measured_text.clone(),
        if s.pass { "pass" } else { "**FAIL**" }.to_string(),
    ]
}

fn configuration(doc: &mut Doc, r: &SoakReport) {
    let c = &r.config;
    let load = match c.rate {
        Some(rate) => format!("open loop, {} ops/s per process", quantity(rate)),
        None => "closed loop".to_string(),
    };
    let mix: Vec<String> = c.mix.iter().map(|(op, w)| format!("{op} {w}")).collect();
    let corpus = format!(
        "{}: {} Python files, {} Markdown files, {}",
        or_unknown(&c.corpus.source),
        count(c.corpus.python_files),
        count(c.corpus.markdown_files),
        bytes(c.corpus.bytes)
    );
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.iter().map(|s| code(s)).collect::<Vec<_>>().join(", ")
        }
    };
    doc.facts(&[
        ("Profile", or_unknown(&c.profile)),
        (
            "Processes × threads",
            format!("{} × {}", c.processes, c.threads),
        ),
        ("Seed", c.seed.to_string()),
        ("Planned duration (timed phases)", seconds(c.duration_s)),
        ("Load", load),
        (
            "Operation mix (weights)",
            if mix.is_empty() {
                "not recorded".into()
            } else {
                mix.join(", ")
            },
        ),
        ("Corpus", corpus),
        ("Interference", yes_no(c.interference)),
        ("Faults", list(&c.faults)),
        ("CLI binary", code_or_unknown(&c.cli_binary)),
        ("SLO overrides", list(&c.slo_overrides)),
    ]);
}

fn environment(doc: &mut Doc, r: &SoakReport) {
    let e = &r.environment;
    let pragmas: Vec<String> = e.pragmas.iter().map(|(k, v)| format!("{k}={v}")).collect();
    doc.facts(&[
        ("Commit", code_or_unknown(&e.commit)),
        ("soak version", or_unknown(&e.soak_version)),
        ("SQLite version", or_unknown(&e.sqlite_version)),
        (
            "SQLite pragmas",
            if pragmas.is_empty() {
                "not recorded".into()
            } else {
                code(&pragmas.join(", "))
            },
        ),
        ("OS", or_unknown(&e.os)),
        ("CPUs", e.cpus.to_string()),
        ("Started", or_unknown(&e.started_at)),
        ("Finished", or_unknown(&e.finished_at)),
    ]);
}

fn operations(doc: &mut Doc, r: &SoakReport) {
    let o = &r.ops;
    doc.facts(&[
        ("Operations", count(o.total)),
        ("Errors", count(o.errors)),
        ("Soak time", seconds(o.soak_seconds)),
        (
            "Throughput",
            format!("{} ops/s", quantity(o.ops_per_second)),
        ),
        ("Dropped (open loop, generator behind)", count(o.dropped)),
        ("Killed by a fault (counted apart)", count(o.killed)),
    ]);
    if o.by_type.is_empty() {
        doc.para("No per-type operation counts were recorded.");
    } else {
        let rows: Vec<Vec<String>> = ordered(&o.by_type)
            .into_iter()
            .map(|(op, n)| vec![code(op), count(*n), share(*n, o.total)])
            .collect();
        doc.table(
            &["Type", "Operations", "Share"],
            &[false, true, true],
            &rows,
        );
    }
    if o.error_samples.is_empty() {
        let text = if o.errors == 0 {
            "No operation failed."
        } else {
            "Operations failed, but no error samples were recorded."
        };
        doc.para(text);
    } else {
        doc.para("Error samples:");
        doc.bullets(o.error_samples.iter().take(MAX_SAMPLES).map(|s| code(s)));
    }
}

fn share(part: u64, total: u64) -> String {
    if total == 0 {
        "n/a".to_string()
    } else {
        ratio(part as f64 / total as f64)
    }
}

fn latency(doc: &mut Doc, r: &SoakReport) {
    doc.para("Per operation type, from the histograms merged across worker processes.");
    doc.para(&format!(
        "![Latency percentiles per operation type (log scale)]({LATENCY_SVG})"
    ));
    let sets = [
        ("All operations", &r.latency_us),
        (
            "Outside interference windows",
            &r.latency_outside_windows_us,
        ),
        (
            "Warm phase, outside interference windows",
            &r.latency_warm_outside_windows_us,
        ),
    ];
    for (heading, map) in sets {
        doc.heading(3, heading);
        latency_table(doc, map);
    }
}

fn latency_table(doc: &mut Doc, map: &BTreeMap<String, LatencySummary>) {
    if map.values().all(|s| s.count == 0) {
        doc.para("No operations were measured in this set.");
        return;
    }
    let rows: Vec<Vec<String>> = ordered(map)
        .into_iter()
        .map(|(op, s)| latency_row(op, s))
        .collect();
    doc.table(
        &[
            "Operation",
            "Count",
            "p50",
            "p90",
            "p95",
            "p99",
            "p99.9",
            "max",
            "mean",
        ],
        &[false, true, true, true, true, true, true, true, true],
        &rows,
    );
}

fn latency_row(op: &str, s: &LatencySummary) -> Vec<String> {
    if s.count == 0 {
        let mut row = vec![code(op), "0".to_string()];
        row.extend(std::iter::repeat_n("no data".to_string(), 7));
        return row;
    }
    let mut row = vec![code(op), count(s.count)];
    row.extend(
        [s.p50, s.p90, s.p95, s.p99, s.p999, s.max]
            .into_iter()
            .map(|v| micros(v as f64)),
    );
    row.push(micros(s.mean));
    row
}

fn open_loop(doc: &mut Doc, r: &SoakReport) {
    let Some(ol) = &r.open_loop else {
        doc.para(
            "This was a closed-loop run (no `--rate`): each worker starts its next operation when \
             the previous one ends.",
        );
        return;
    };
    if ol.saturated {
        doc.para(&format!(
            "> **Warning: the load generator was saturated.** It could not keep {} ops/s per \
             process; operations started late (see the schedule lag) and {} were dropped. The \
             corrected latencies include that lag.",
            quantity(ol.rate),
            count(ol.dropped)
        ));
    }
    let lag = &ol.schedule_lag_us;
    let lag_text = if lag.count == 0 {
        "no data".to_string()
    } else {
        format!(
            "p50 {}, p99 {}, max {}",
            micros(lag.p50 as f64),
            micros(lag.p99 as f64),
            micros(lag.max as f64)
        )
    };
    doc.facts(&[
        (
            "Target rate",
            format!("{} ops/s per process", quantity(ol.rate)),
        ),
        ("Schedule lag", lag_text),
        ("Dropped", count(ol.dropped)),
        (
            "Generator saturated",
            if ol.saturated { "yes" } else { "no" }.into(),
        ),
    ]);
    open_loop_table(doc, ol);
}

fn open_loop_table(doc: &mut Doc, ol: &OpenLoopSummary) {
    let mut ops: Vec<&str> = ol
        .corrected_us
        .keys()
        .chain(ol.uncorrected_us.keys())
        .map(String::as_str)
        .collect();
    ops.sort_by_key(|op| op_order(op));
    ops.dedup();
    if ops.is_empty() {
        doc.para("No open-loop latencies were recorded.");
        return;
    }
    let stats = |s: Option<&LatencySummary>| match s {
        Some(s) if s.count > 0 => [s.p50, s.p99, s.max].map(|v| micros(v as f64)).to_vec(),
        _ => vec!["no data".to_string(); 3],
    };
    let rows: Vec<Vec<String>> = ops
        .into_iter()
        .map(|op| {
            let mut row = vec![code(op)];
            row.extend(stats(ol.corrected_us.get(op)));
            row.extend(stats(ol.uncorrected_us.get(op)));
            row
        })
        .collect();
    doc.para("Corrected latency is measured from each operation's intended start, uncorrected from its actual start.");
    doc.table(
        &[
            "Operation",
            "corrected p50",
            "corrected p99",
            "corrected max",
            "uncorrected p50",
            "uncorrected p99",
            "uncorrected max",
        ],
        &[false, true, true, true, true, true, true],
        &rows,
    );
}

fn phases(doc: &mut Doc, r: &SoakReport) {
    if r.phases.is_empty() {
        doc.para("No phase summaries were recorded.");
        return;
    }
    let rows: Vec<Vec<String>> = r
        .phases
        .iter()
        .map(|p| {
            let lookups = p.hits + p.misses + p.stale;
            vec![
                p.name.clone(),
                seconds(p.seconds),
                count(p.ops),
                count(p.hits),
                count(p.misses),
                count(p.stale),
                if lookups == 0 {
                    "no lookups".into()
                } else {
                    ratio(p.hit_rate)
                },
                count(p.errors),
                p.notes.clone(),
            ]
        })
        .collect();
    doc.table(
        &[
            "Phase", "Time", "Ops", "Hits", "Misses", "Stale", "Hit rate", "Errors", "Notes",
        ],
        &[false, true, true, true, true, true, true, true, false],
        &rows,
    );
}

/// A hit-rate metric as the SLOs read it (so "no data" shows the same way).
fn hit_rate(r: &SoakReport, metric: &str) -> String {
    slo::measure(r, metric).map_or_else(|| "no data".to_string(), ratio)
}

fn cache(doc: &mut Doc, r: &SoakReport) {
    let c = &r.cache;
    doc.facts(&[
        ("Cold pass hit rate", hit_rate(r, "hit_rate_cold")),
        ("Warm pass hit rate", hit_rate(r, "hit_rate_warm")),
        ("Mutation phase hit rate", hit_rate(r, "hit_rate_mutation")),
        (
            "Whole run, from the database's counters",
            ratio(c.db_hit_rate),
        ),
        ("Hits", count(c.hits)),
        ("Misses", count(c.misses)),
        ("Stale", count(c.stale)),
        ("Evictions", count(c.evictions)),
        ("SQLite busy retries", count(c.busy_retries)),
        ("Entries at the end", count(c.entries_end)),
    ]);
}

fn locks(doc: &mut Doc, r: &SoakReport) {
    let l = &r.locks;
    if !r.config.interference {
        doc.para("Interference was off for this run: no process competed for the cache's locks.");
    } else if l.lock_waits == 0 {
        doc.para(
            "> **Interference was on but produced no lock waits:** the interference did not work.",
        );
    }
    doc.facts(&[
        (
            "Lock waits (at or above the threshold)",
            count(l.lock_waits),
        ),
        ("Lock timeouts", count(l.lock_timeouts)),
        ("Wait threshold", micros(l.wait_threshold_us as f64)),
        (
            "Waits inside / outside windows (surviving workers' samples)",
            format!(
                "{} / {}",
                count(l.waits_in_windows),
                count(l.waits_outside_windows)
            ),
        ),
        (
            "`lock_wait` events inside held windows (every process)",
            count(l.wait_events_in_windows),
        ),
        ("Spike threshold", micros(l.spike_threshold_us as f64)),
        (
            "Spikes inside / outside windows",
            format!(
                "{} / {}",
                count(l.spikes_in_windows),
                count(l.spikes_outside_windows)
            ),
        ),
        ("Interference windows", count(l.windows.len() as u64)),
    ]);
    window_table(doc, &l.windows);
}

fn window_table(doc: &mut Doc, windows: &[WindowSummary]) {
    if windows.is_empty() {
        doc.para("No interference windows were recorded.");
        return;
    }
    let rows: Vec<Vec<String>> = windows
        .iter()
        .take(MAX_WINDOW_ROWS)
        .enumerate()
        .map(|(i, w)| {
            vec![
                (i + 1).to_string(),
                code(&w.kind),
                w.phase.clone(),
                micros(w.start_ms * 1e3),
                micros(w.duration_ms * 1e3),
                count(w.waits),
                if w.waits == 0 {
                    "–".into()
                } else {
                    micros(w.max_wait_us as f64)
                },
                count(w.spikes),
            ]
        })
        .collect();
    doc.table(
        &[
            "#", "Kind", "Phase", "Start", "Duration", "Waits", "Max wait", "Spikes",
        ],
        &[true, false, false, true, true, true, true, true],
        &rows,
    );
    if windows.len() > MAX_WINDOW_ROWS {
        doc.para(&format!(
            "{} more windows are listed in the JSON report.",
            count((windows.len() - MAX_WINDOW_ROWS) as u64)
        ));
    }
}

fn integrity(doc: &mut Doc, r: &SoakReport) {
    let i = &r.integrity;
    let final_check = if i.integrity_check.is_empty() {
        "not run".to_string()
    } else {
        code(&i.integrity_check)
    };
    doc.facts(&[
        ("Final `integrity_check`", final_check),
        ("Database sound", if i.ok { "yes" } else { "**no**" }.into()),
        ("`quick_check` runs during the soak", count(i.quick_checks)),
        ("`quick_check` failures", count(i.quick_check_failures)),
    ]);
    let problems: Vec<String> = i
        .quick_check_results
        .iter()
        .filter(|s| s.trim() != "ok")
        .take(MAX_SAMPLES)
        .map(|s| code(s))
        .collect();
    if !problems.is_empty() {
        doc.para("`quick_check` results other than ok:");
        doc.bullets(problems);
    }
}

fn oracle(doc: &mut Doc, r: &SoakReport) {
    let o = &r.oracle;
    if o.hits_verified == 0 {
        doc.para("The oracle verified no hits: the correctness of hits is unproven for this run.");
    }
    doc.facts(&[
        ("Hits in the run", count(o.hits_total)),
        ("Hits re-parsed and compared", count(o.hits_verified)),
        ("Sample fraction", ratio(o.sample_fraction)),
        ("Wrong hits", count(o.wrong_hits)),
    ]);
    if !o.wrong_hit_samples.is_empty() {
        doc.para("Wrong hit samples:");
        doc.bullets(
            o.wrong_hit_samples
                .iter()
                .take(MAX_SAMPLES)
                .map(|s| code(s)),
        );
    }
}

fn telemetry(doc: &mut Doc, r: &SoakReport) {
    let t = &r.telemetry;
    doc.facts(&[
        ("Lines read", count(t.lines)),
        ("Unparsable records", count(t.unparsable)),
        (
            "Fragments torn by a SIGKILL mid-write (killed worker's own event)",
            count(t.torn_by_kill),
        ),
        ("Missing events", count(t.missing_events)),
        ("Files (including rotated)", count(t.files)),
        ("Events with an absolute path", count(t.absolute_paths)),
    ]);
    let names: BTreeSet<&String> = t.expected.keys().chain(t.found.keys()).collect();
    if names.is_empty() {
        doc.para("No expected or found event counts were recorded.");
        return;
    }
    let rows: Vec<Vec<String>> = names
        .into_iter()
        .map(|name| {
            let expected = t.expected.get(name).copied();
            let found = t.found.get(name).copied().unwrap_or(0);
            vec![
                code(name),
                expected.map_or_else(|| "not counted".into(), count),
                count(found),
                expected.map_or_else(String::new, |e| difference(found, e)),
            ]
        })
        .collect();
    doc.table(
        &["Event", "Expected", "Found", "Found − expected"],
        &[false, true, true, true],
        &rows,
    );
}

fn difference(found: u64, expected: u64) -> String {
    if found >= expected {
        format!("+{}", count(found - expected))
    } else {
        format!("−{}", count(expected - found))
    }
}

fn faults(doc: &mut Doc, r: &SoakReport) {
    if r.faults.is_empty() {
        if r.config.faults.is_empty() {
            doc.para("No faults were injected in this run.");
        } else {
            doc.para(&format!(
                "No faults were injected in this run, although fault modes were configured ({}).",
                r.config.faults.join(", ")
            ));
        }
        return;
    }
    let rows: Vec<Vec<String>> = r
        .faults
        .iter()
        .map(|f| {
            vec![
                code(&f.mode),
                count(f.injected),
                count(f.detected),
                count(f.recovered),
                count(f.ops_affected),
                count(f.wrong_hits),
                f.notes.clone(),
            ]
        })
        .collect();
    doc.table(
        &[
            "Mode",
            "Injected",
            "Detected",
            "Recovered",
            "Ops affected",
            "Wrong hits",
            "Notes",
        ],
        &[false, true, true, true, true, true, false],
        &rows,
    );
    doc.para(&format!(
        "Unrecovered structural corruption: {}.",
        count(slo::unrecovered_corruption(r))
    ));
}

fn database(doc: &mut Doc, r: &SoakReport) {
    let d = &r.database;
    doc.facts(&[
        ("Largest size (database + WAL)", bytes(d.max_bytes)),
        ("Database at the end", bytes(d.end_db_bytes)),
        ("WAL at the end", bytes(d.end_wal_bytes)),
        ("Size samples", count(d.samples.len() as u64)),
    ]);
    if d.samples.is_empty() {
        doc.para("No size samples were recorded, so there is no growth chart.");
    } else {
        doc.para(&format!("![Database + WAL size over time]({GROWTH_SVG})"));
    }
}

fn memory(doc: &mut Doc, r: &SoakReport) {
    let m = &r.memory;
    if m.workers.is_empty() {
        doc.para("No worker memory samples were recorded.");
        return;
    }
    let rows: Vec<Vec<String>> = m
        .workers
        .iter()
        .map(|w| {
            vec![
                w.worker.to_string(),
                w.phase.clone(),
                kib(w.rss_after_warmup_kib),
                kib(w.rss_peak_kib),
                percent(w.growth_pct),
            ]
        })
        .collect();
    doc.table(
        &[
            "Worker",
            "Phase",
            "RSS after warm-up",
            "Peak RSS after",
            "Growth",
        ],
        &[true, false, true, true, true],
        &rows,
    );
    doc.para(&format!(
        "Largest growth after warm-up across workers: {}.",
        percent(m.max_growth_pct)
    ));
}

fn overhead(doc: &mut Doc, r: &SoakReport) {
    let o = &r.overhead;
    if o.op_ns_mean <= 0.0 {
        doc.para("Harness overhead was not measured in this run.");
        return;
    }
    doc.facts(&[
        (
            "Bookkeeping per operation",
            format!("{} ns", quantity(o.bookkeeping_ns_per_op)),
        ),
        (
            "Mean operation time",
            format!("{} ns", quantity(o.op_ns_mean)),
        ),
        ("Overhead", percent(o.ratio_pct)),
    ]);
}

fn baseline(doc: &mut Doc, r: &SoakReport) {
    match &r.baseline {
        None => doc.para("There was no baseline report to compare with."),
        Some(b) if b.rows.is_empty() => doc.para(&format!(
            "The baseline ({}) had no comparable metrics.",
            code(&b.source)
        )),
        Some(b) => baseline_table(doc, b),
    }
}

fn baseline_table(doc: &mut Doc, b: &BaselineComparison) {
    doc.para(&format!(
        "Baseline: {} at commit {}. Ratio is current / baseline; metrics without data in \
         either run are left out.",
        code(&b.source),
        code_or_unknown(&b.baseline_commit)
    ));
    let rows: Vec<Vec<String>> = b
        .rows
        .iter()
        .map(|row| {
            vec![
                code(&row.metric),
                slo::format_measured(&row.metric, row.baseline),
                slo::format_measured(&row.metric, row.current),
                times(row.ratio),
            ]
        })
        .collect();
    doc.table(
        &["Metric", "Baseline", "Current", "Ratio"],
        &[false, true, true, true],
        &rows,
    );
}

fn warnings(doc: &mut Doc, r: &SoakReport) {
    if r.warnings.is_empty() {
        doc.para("None.");
    } else {
        doc.bullets(r.warnings.iter().map(|w| cell(w)));
    }
}

fn reproduce(doc: &mut Doc, r: &SoakReport) {
    if r.config.command.trim().is_empty() {
        doc.para(&format!(
            "The command was not recorded. Seed: {}.",
            r.config.seed
        ));
        return;
    }
    doc.para(&format!(
        "Replays this run (seed {}) from the repository root:",
        r.config.seed
    ));
    doc.code(&r.config.command);
}

fn about(doc: &mut Doc, r: &SoakReport) {
    doc.para(&format!(
        "Generated by `soak` from the run's own measurements; the same data is in `{}`. \
         Exit code {}.",
        super::JSON_FILE,
        r.exit_code
    ));
}
