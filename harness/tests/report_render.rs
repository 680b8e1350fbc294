//! The report renderers: Markdown, SVG charts, the written report set and the baseline.

use serde_json::Value;
use std::fs;
use std::path::Path;
use trifecta_harness::report::model::{
    FaultSummary, LatencySummary, OpenLoopSummary, PhaseSummary, SoakReport, WindowSummary,
    WorkerMemory,
};
use trifecta_harness::report::{
    GROWTH_SVG, JSON_FILE, LATENCY_SVG, MARKDOWN_FILE, baseline, check_writable, markdown, svg,
    write_all,
};
use trifecta_harness::slo;

fn latency(count: u64, p50: u64, p99: u64) -> LatencySummary {
    LatencySummary {
        count,
        p50,
        p90: p50 * 2,
        p95: p50 * 3,
        p99,
        p999: p99 * 2,
        max: p99 * 4,
        mean: p50 as f64 * 1.5,
    }
}

/// A complete, plausible report with distinctive numbers to look for in the output.
fn sample_report() -> SoakReport {
    let mut r = SoakReport {
        verdict: "pass".into(),
        complete: true,
        ..Default::default()
    };
    r.config.profile = "ci".into();
    r.config.processes = 4;
    r.config.threads = 2;
    r.config.seed = 4242;
    r.config.duration_s = 40.0;
    r.config.interference = true;
    r.config.mix.insert("symbols".into(), 60);
    r.config.mix.insert("search".into(), 20);
    r.config.corpus.source = "generated".into();
    r.config.corpus.python_files = 321;
    r.config.command = "cargo run --release --bin soak -- --profile ci --seed 4242".into();
    r.environment.commit = "abc1234".into();
    r.environment.sqlite_version = "3.50.1".into();
    r.environment
        .pragmas
        .insert("journal_mode".into(), "wal".into());
    r.environment.os = "linux x86_64".into();
    r.environment.cpus = 2;
    r.ops.total = 23_456;
    r.ops.by_type.insert("symbols".into(), 20_000);
    r.ops.by_type.insert("search".into(), 3_456);
    r.ops.soak_seconds = 58.2;
    r.ops.ops_per_second = 403.0;
    for (op, p50, p99) in [
        ("get", 31, 97),
        ("symbols", 420, 2_100),
        ("cli", 4_100, 9_300),
    ] {
        r.latency_us.insert(op.into(), latency(1_000, p50, p99));
        r.latency_outside_windows_us
            .insert(op.into(), latency(900, p50, p99 / 2));
    }
    r.latency_us.insert("lock_wait".into(), latency(0, 0, 0));
    r.phases = vec![
        PhaseSummary {
            name: "cold".into(),
            ops: 800,
            misses: 800,
            ..Default::default()
        },
        PhaseSummary {
            name: "warm".into(),
            ops: 2_000,
            hits: 1_900,
            misses: 100,
            hit_rate: 0.95,
            ..Default::default()
        },
    ];
    r.cache.hit_rate_warm = 0.95;
    r.locks.lock_waits = 77;
    r.locks.waits_in_windows = 60;
    r.locks.wait_events_in_windows = 64;
    r.locks.wait_threshold_us = 1_000;
    r.locks.windows = vec![WindowSummary {
        kind: "flock".into(),
        start_ms: 1_500.0,
        duration_ms: 250.0,
        waits: 77,
        max_wait_us: 240_000,
        spikes: 12,
        phase: "warm".into(),
    }];
    r.integrity.integrity_check = "ok".into();
    r.integrity.ok = true;
    r.integrity.quick_checks = 9;
    r.oracle.hits_total = 1_900;
    r.oracle.hits_verified = 190;
    r.oracle.sample_fraction = 0.1;
    r.telemetry.lines = 31_337;
    r.telemetry.expected.insert("ast.cache.hit".into(), 1_900);
    r.telemetry.found.insert("ast.cache.hit".into(), 1_900);
    r.database.max_bytes = 12_400_000;
    r.database.samples = vec![(0.0, 0), (10.0, 4_000_000), (20.0, 12_400_000)];
    r.memory.workers.push(WorkerMemory {
        worker: 1,
        phase: "warm".into(),
        rss_after_warmup_kib: 20_480,
        rss_peak_kib: 21_504,
        growth_pct: 5.0,
    });
    r.memory.max_growth_pct = 5.0;
    r.slos = slo::evaluate(&slo::default_slos(true, 2_000), &r);
    r
}

fn headings(markdown: &str) -> Vec<&str> {
    markdown
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .collect()
}

#[test]
fn the_sample_passes_its_slos() {
    let r = sample_report();
    let failed: Vec<_> = r.slos.iter().filter(|s| !s.pass).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn markdown_has_the_title_verdict_table_and_every_section() {
    let md = markdown::render(&sample_report());
    assert!(md.starts_with("# AST cache soak run: PASS\n"), "{md}");
    assert!(md.contains("| SLO | Target | Measured | Result |"));
    assert!(
        md.contains("| `get.p95` | `< 10ms` | 93 µs | pass |"),
        "{md}"
    );
    assert_eq!(headings(&md), markdown::SECTION_HEADINGS);
    assert!(!md.contains(markdown::INCOMPLETE_BANNER));
}

#[test]
fn markdown_shows_the_reports_numbers() {
    let md = markdown::render(&sample_report());
    for expected in [
        "4 × 2",
        "4242",
        "23,456",
        "403 ops/s",
        "3.50.1",
        "journal_mode=wal",
        "abc1234",
        "31,337",
        "12.4 MB",
        "95.0 %",
        "2.1 ms",
        "240 ms",
        "5.0 %",
        "321 Python files",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    assert!(md.contains(&format!("]({LATENCY_SVG})")));
    assert!(md.contains(&format!("]({GROWTH_SVG})")));
    assert!(md.contains("```sh\ncargo run --release --bin soak -- --profile ci --seed 4242\n```"));
}

#[test]
fn markdown_marks_an_incomplete_run() {
    let mut r = sample_report();
    r.complete = false;
    r.verdict = "fail".into();
    let md = markdown::render(&r);
    let title = md.lines().next().unwrap();
    assert!(title.contains("INCOMPLETE"), "{title}");
    assert!(title.contains("FAIL"), "{title}");
    assert!(md.contains(markdown::INCOMPLETE_BANNER));
}

#[test]
fn markdown_says_plainly_when_there_is_no_data() {
    let md = markdown::render(&SoakReport::default());
    assert_eq!(headings(&md), markdown::SECTION_HEADINGS);
    for expected in [
        "No SLOs were evaluated",
        "No operations were measured in this set.",
        "closed-loop run",
        "No phase summaries were recorded.",
        "No faults were injected in this run.",
        "No worker memory samples were recorded.",
        "not measured",
        "There was no baseline report to compare with.",
        "No interference windows were recorded.",
        "The command was not recorded.",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
}

#[test]
fn markdown_renders_faults_open_loop_and_baseline() {
    let mut r = sample_report();
    r.faults.push(FaultSummary {
        mode: "corrupt:header".into(),
        injected: 3,
        detected: 3,
        recovered: 2,
        ops_affected: 14,
        wrong_hits: 0,
        notes: "one | still open".into(),
    });
    r.open_loop = Some(OpenLoopSummary {
        rate: 500.0,
        saturated: true,
        dropped: 61,
        ..Default::default()
    });
    let previous = sample_report();
    r.baseline = Some(baseline::compare(&previous, &r, "reports/previous.json"));
    let md = markdown::render(&r);
    assert!(md.contains("| `corrupt:header` | 3 | 3 | 2 | 14 | 0 | one \\| still open |"));
    assert!(md.contains("Unrecovered structural corruption: 1."));
    assert!(md.contains("generator was saturated"));
    assert!(md.contains("| Metric | Baseline | Current | Ratio |"));
    assert!(md.contains("1.00×"));
}

#[test]
fn svgs_are_standalone_documents() {
    let r = sample_report();
    let charts = [
        svg::latency_bars(&r),
        svg::growth_line(&r.database.samples),
        svg::latency_bars(&SoakReport::default()),
        svg::growth_line(&[]),
    ];
    for chart in &charts {
        assert!(chart.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(chart.trim_end().ends_with("</svg>"));
        assert_eq!(chart.matches("<svg").count(), 1);
        assert_eq!(
            chart.matches("<text").count(),
            chart.matches("</text>").count()
        );
    }
    assert!(charts[0].contains(">symbols</text>"));
    assert!(charts[0].contains("latency (log scale)"));
    assert!(charts[0].contains(">p99</text>"));
    assert!(
        !charts[0].contains(">lock_wait</text>"),
        "count 0 is not drawn"
    );
    assert!(charts[1].contains("<polyline"));
    assert!(
        charts[1].contains(" MB</text>"),
        "byte labels on the y axis"
    );
    assert!(charts[2].contains(">no data</text>"));
    assert!(charts[3].contains(">no data</text>"));
}

fn key<'a>(json: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(json, |value, part| {
        value
            .get(part)
            .unwrap_or_else(|| panic!("JSON has no {path} (at {part})"))
    })
}

#[test]
fn write_all_writes_the_set_with_the_required_json_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports/nested");
    let written = write_all(&sample_report(), &out).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in [MARKDOWN_FILE, JSON_FILE, LATENCY_SVG, GROWTH_SVG] {
        assert!(names.contains(&name.to_string()), "{name}");
        assert!(out.join(name).is_file(), "{name}");
    }
    let leftovers: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let json: Value =
        serde_json::from_str(&fs::read_to_string(out.join(JSON_FILE)).unwrap()).unwrap();
    assert_eq!(key(&json, "verdict"), "pass");
    let slos = key(&json, "slos").as_array().unwrap();
    assert!(!slos.is_empty());
    for slo in slos {
        for field in ["name", "target", "measured", "pass"] {
            assert!(slo.get(field).is_some(), "slo has no {field}");
        }
    }
    for path in [
        "config.processes",
        "config.profile",
        "config.seed",
        "ops.total",
        "ops.errors",
        "cache.hit_rate_cold",
        "cache.hit_rate_warm",
        "locks.lock_waits",
        "locks.lock_timeouts",
        "integrity.integrity_check",
        "oracle.hits_verified",
        "oracle.wrong_hits",
        "telemetry.lines",
        "telemetry.unparsable",
        "telemetry.missing_events",
    ] {
        key(&json, path);
    }
    for op in ["get", "symbols", "cli"] {
        for stat in ["count", "p50", "p90", "p95", "p99", "p999", "max"] {
            assert!(key(&json, &format!("latency_us.{op}.{stat}")).is_u64());
        }
    }
    assert_eq!(key(&json, "config.processes"), 4);
    assert_eq!(key(&json, "integrity.integrity_check"), "ok");
}

#[test]
fn write_all_replaces_an_existing_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = sample_report();
    write_all(&r, dir.path()).unwrap();
    r.verdict = "fail".into();
    write_all(&r, dir.path()).unwrap();
    let md = fs::read_to_string(dir.path().join(MARKDOWN_FILE)).unwrap();
    assert!(md.starts_with("# AST cache soak run: FAIL"));
}

#[test]
fn check_writable_accepts_a_new_directory_and_leaves_it_empty() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("a/b/reports");
    check_writable(&reports).unwrap();
    assert!(reports.is_dir());
    assert_eq!(fs::read_dir(&reports).unwrap().count(), 0);
}

#[test]
fn check_writable_rejects_a_path_under_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    fs::write(&file, "x").unwrap();
    let err = check_writable(&file.join("reports")).unwrap_err();
    assert!(format!("{err:#}").contains("reports"), "{err:#}");
    assert!(check_writable(&file).is_err());
    assert!(write_all(&sample_report(), &file.join("reports")).is_err());
}

#[test]
fn baseline_compares_key_metrics() {
    let previous = sample_report();
    let mut current = sample_report();
    current.ops.ops_per_second = 806.0;
    current.locks.lock_waits = 0;
    let mut zero_base = previous.clone();
    zero_base.locks.lock_waits = 0;
    let comparison = baseline::compare(&previous, &current, "old.json");
    assert_eq!(comparison.source, "old.json");
    assert_eq!(comparison.baseline_commit, "abc1234");
    let names: Vec<&str> = comparison.rows.iter().map(|r| r.metric.as_str()).collect();
    let expected: Vec<&str> = baseline::COMPARED_METRICS
        .into_iter()
        .filter(|m| *m != "search.p95")
        .collect();
    assert_eq!(names, expected, "search.p95 has no data in either run");
    let row = |name: &str| comparison.rows.iter().find(|r| r.metric == name).unwrap();
    assert_eq!(row("ops_per_second").ratio, 2.0);
    assert_eq!(row("get.p99").baseline, 97.0);
    assert_eq!(row("symbols.p95").ratio, 1.0);
    assert_eq!(row("lock_waits").ratio, 0.0);

    let from_zero = baseline::compare(&zero_base, &previous, "zero.json");
    let waits = from_zero
        .rows
        .iter()
        .find(|r| r.metric == "lock_waits")
        .unwrap();
    assert_eq!(
        (waits.baseline, waits.current, waits.ratio),
        (0.0, 77.0, 0.0)
    );
}

fn load(path: &Path) -> anyhow::Result<Option<SoakReport>> {
    baseline::load(path)
}

#[test]
fn baseline_load_reads_a_report_and_reports_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load(&dir.path().join("absent.json")).unwrap().is_none());

    write_all(&sample_report(), dir.path()).unwrap();
    let loaded = load(&dir.path().join(JSON_FILE)).unwrap().unwrap();
    assert_eq!(loaded.ops.total, 23_456);

    let old = dir.path().join("old.json");
    fs::write(&old, r#"{"verdict":"pass","ops":{"total":3}}"#).unwrap();
    let err = load(&old).unwrap_err();
    assert!(format!("{err:#}").contains("old.json"), "{err:#}");

    let garbage = dir.path().join("garbage.json");
    fs::write(&garbage, "not json").unwrap();
    assert!(load(&garbage).is_err());
    assert!(load(dir.path()).is_err(), "a directory is unreadable");
}
