//! SLOs as data: parsing, merging and evaluation against a hand-built report.

use trifecta_harness::report::model::{
    FaultSummary, LatencySummary, PhaseSummary, SoakReport, WorkerMemory,
};
use trifecta_harness::slo::{
    self, Comparison, Slo, SloError, default_slos, evaluate, known_metrics, measure, merge, parse,
};

fn threshold(spec: &str) -> f64 {
    parse(spec)
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
        .threshold
}

fn assert_close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{actual} != {expected}"
    );
}

#[test]
fn latency_units_become_microseconds() {
    assert_close(threshold("symbols.p95<10ms"), 10_000.0);
    assert_close(threshold("get.p99<=100us"), 100.0);
    assert_close(threshold("get.p99<=100µs"), 100.0);
    assert_close(threshold("get.p99<=100μs"), 100.0);
    assert_close(threshold("cli.max<1.5s"), 1_500_000.0);
    assert_close(threshold("cli.mean<250"), 250.0);
}

#[test]
fn size_units_become_bytes() {
    assert_close(threshold("db_bytes<100B"), 100.0);
    assert_close(threshold("db_bytes<100"), 100.0);
    assert_close(threshold("db_bytes<2KB"), 2_000.0);
    assert_close(threshold("db_bytes<100MB"), 100_000_000.0);
    assert_close(threshold("db_bytes<1GB"), 1_000_000_000.0);
    assert_close(threshold("db_bytes<2KiB"), 2_048.0);
    assert_close(threshold("db_bytes<1MiB"), 1_048_576.0);
    assert_close(threshold("db_bytes<1GiB"), 1_073_741_824.0);
}

#[test]
fn percent_becomes_a_fraction_for_rates() {
    assert_close(threshold("hit_rate_warm>60%"), 0.6);
    assert_close(threshold("hit_rate_warm>0.6"), 0.6);
    assert_close(threshold("hit_rate_cold>=12.5 %"), 0.125);
    // Metrics that are already percentages keep the number.
    assert_close(threshold("overhead_pct<1%"), 1.0);
    assert_close(threshold("memory_growth_pct<10"), 10.0);
}

#[test]
fn every_comparison_parses() {
    let cases = [
        ("wrong_hits<1", Comparison::Lt),
        ("wrong_hits<=1", Comparison::Le),
        ("wrong_hits>1", Comparison::Gt),
        ("wrong_hits>=1", Comparison::Ge),
        ("wrong_hits==1", Comparison::Eq),
    ];
    for (spec, op) in cases {
        assert_eq!(parse(spec).unwrap().op, op, "{spec}");
        assert_eq!(op.symbol(), &spec[10..spec.len() - 1]);
    }
    assert!(Comparison::Lt.holds(1.0, 2.0) && !Comparison::Lt.holds(2.0, 2.0));
    assert!(Comparison::Le.holds(2.0, 2.0) && !Comparison::Le.holds(3.0, 2.0));
    assert!(Comparison::Gt.holds(3.0, 2.0) && !Comparison::Gt.holds(2.0, 2.0));
    assert!(Comparison::Ge.holds(2.0, 2.0) && !Comparison::Ge.holds(1.0, 2.0));
    assert!(Comparison::Eq.holds(0.0, 0.0) && !Comparison::Eq.holds(1.0, 0.0));
}

#[test]
fn whitespace_is_tolerated_and_the_text_kept() {
    let slo = parse("  get.p95  <   10 ms  ").unwrap();
    assert_eq!(slo.metric, "get.p95");
    assert_eq!(slo.op, Comparison::Lt);
    assert_close(slo.threshold, 10_000.0);
    assert_eq!(slo.text, "get.p95  <   10 ms");
    assert_eq!(slo.target(), "< 10 ms");
    assert_eq!(parse("wrong_hits == 0").unwrap().target(), "== 0");
}

#[test]
fn unknown_metric_lists_the_known_ones() {
    let err = parse("get.p96<10ms").unwrap_err();
    assert!(matches!(err, SloError::UnknownMetric { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("get.p96"), "{message}");
    for part in [
        "get",
        "symbols",
        "lock_wait",
        "p95",
        "p999",
        "_outside",
        "_warm_outside",
        "hit_rate_warm",
        "db_bytes",
        "wrong_hits",
        "lost_events",
    ] {
        assert!(message.contains(part), "{part} missing from: {message}");
    }
    assert!(parse("nonsense>1").is_err());
    assert!(parse("lookups.p95<1ms").is_err());
}

#[test]
fn known_metrics_cover_every_family() {
    let known = known_metrics();
    for metric in [
        "get.p50",
        "lock_wait.max",
        "symbols_outside.p99",
        "cli_warm_outside.p95",
        "mutate.mean",
        "integrity_ok",
        "unrecovered_corruption",
        "overhead_pct",
    ] {
        assert!(known.iter().any(|k| k == metric), "{metric}");
        assert!(parse(&format!("{metric}>=0")).is_ok(), "{metric}");
    }
}

#[test]
fn a_unit_that_does_not_fit_is_an_error() {
    for spec in [
        "wrong_hits<1ms",
        "get.p95<10MB",
        "db_bytes<10ms",
        "hit_rate_warm>60ms",
        "ops_total>5%",
        "get.p95<10 parsecs",
    ] {
        let err = parse(spec).unwrap_err();
        assert!(matches!(err, SloError::BadUnit { .. }), "{spec}: {err:?}");
        assert!(err.to_string().contains("accepted"), "{err}");
    }
}

#[test]
fn malformed_specs_are_errors() {
    assert_eq!(parse("   "), Err(SloError::Empty));
    assert!(matches!(
        parse("get.p95 10ms"),
        Err(SloError::MissingOperator { .. })
    ));
    assert!(matches!(
        parse("get.p95<fast"),
        Err(SloError::BadNumber { .. })
    ));
    assert!(matches!(
        parse("get.p95<<10ms"),
        Err(SloError::BadNumber { .. })
    ));
    // A bare 60 on a hit rate is almost certainly a forgotten `%`.
    assert!(matches!(
        parse("hit_rate_warm>60"),
        Err(SloError::FractionOutOfRange { .. })
    ));
}

#[test]
fn defaults_are_the_seeds_plus_run_checks() {
    let metrics = |slos: &[Slo]| slos.iter().map(|s| s.metric.clone()).collect::<Vec<_>>();
    let plain = default_slos(false, 2000);
    for metric in [
        "get.p95",
        "hit_rate_warm",
        "integrity_ok",
        "unrecovered_corruption",
        "wrong_hits",
        "lost_events",
        "unparsable_lines",
        "absolute_paths",
        "db_bytes",
        "errors",
        "ops_total",
    ] {
        assert!(metrics(&plain).contains(&metric.to_string()), "{metric}");
    }
    assert!(!metrics(&plain).contains(&"lock_waits_in_windows".to_string()));
    let get = plain.iter().find(|s| s.metric == "get.p95").unwrap();
    assert_eq!((get.op, get.threshold), (Comparison::Lt, 10_000.0));
    let ops = plain.iter().find(|s| s.metric == "ops_total").unwrap();
    assert_eq!((ops.op, ops.threshold), (Comparison::Ge, 2000.0));

    let with_interference = default_slos(true, 2000);
    let waits = with_interference
        .iter()
        .find(|s| s.metric == "lock_waits_in_windows")
        .unwrap();
    assert_eq!((waits.op, waits.threshold), (Comparison::Gt, 0.0));
}

#[test]
fn overrides_replace_defaults_on_the_same_metric_and_add_the_rest() {
    let defaults = default_slos(false, 100);
    let count = defaults.len();
    let overrides = vec![
        parse("get.p95<2ms").unwrap(),
        parse("symbols.p99<2ms").unwrap(),
    ];
    let merged = merge(defaults, overrides);
    assert_eq!(merged.len(), count + 1);
    let get: Vec<&Slo> = merged.iter().filter(|s| s.metric == "get.p95").collect();
    assert_eq!(get.len(), 1);
    assert_close(get[0].threshold, 2_000.0);
    assert_eq!(merged[0].metric, "get.p95", "the override keeps its place");
    assert_eq!(merged.last().unwrap().metric, "symbols.p99");
}

#[test]
fn two_overrides_can_bound_one_metric() {
    let merged = merge(
        vec![parse("get.p95<10ms").unwrap()],
        vec![parse("get.p95>1us").unwrap(), parse("get.p95<5ms").unwrap()],
    );
    let texts: Vec<&str> = merged.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["get.p95>1us", "get.p95<5ms"]);
}

fn latency(count: u64, p50: u64, p95: u64, p99: u64) -> LatencySummary {
    LatencySummary {
        count,
        p50,
        p90: p95,
        p95,
        p99,
        p999: p99,
        max: p99 * 2,
        mean: p50 as f64,
    }
}

/// A healthy run: every default SLO holds.
fn healthy_report() -> SoakReport {
    let mut r = SoakReport::default();
    r.latency_us
        .insert("get".into(), latency(10_000, 40, 412, 900));
    r.latency_us
        .insert("symbols".into(), latency(3_000, 300, 2_100, 4_000));
    r.latency_us.insert("cli".into(), latency(0, 0, 0, 0));
    r.latency_outside_windows_us
        .insert("get".into(), latency(9_000, 35, 300, 700));
    r.latency_warm_outside_windows_us
        .insert("symbols".into(), latency(2_000, 200, 600, 800));
    r.cache.hit_rate_cold = 0.05;
    r.cache.hit_rate_warm = 0.973;
    r.phases = vec![
        PhaseSummary {
            name: "cold".into(),
            ops: 500,
            hits: 25,
            misses: 475,
            hit_rate: 0.05,
            ..Default::default()
        },
        PhaseSummary {
            name: "warm".into(),
            ops: 2_000,
            hits: 1_946,
            misses: 54,
            hit_rate: 0.973,
            ..Default::default()
        },
    ];
    r.integrity.integrity_check = "ok".into();
    r.integrity.ok = true;
    r.database.max_bytes = 12_400_000;
    r.ops.total = 13_000;
    r.ops.ops_per_second = 216.7;
    r.locks.lock_waits = 37;
    r.locks.waits_in_windows = 30;
    r.locks.wait_events_in_windows = 33;
    r.faults = vec![FaultSummary {
        mode: "corrupt:truncated".into(),
        injected: 3,
        detected: 3,
        recovered: 3,
        ..Default::default()
    }];
    r
}

#[test]
fn measure_reads_every_family() {
    let r = healthy_report();
    assert_eq!(measure(&r, "get.p95"), Some(412.0));
    assert_eq!(measure(&r, "get.max"), Some(1_800.0));
    assert_eq!(measure(&r, "get.mean"), Some(40.0));
    assert_eq!(measure(&r, "get_outside.p99"), Some(700.0));
    assert_eq!(measure(&r, "symbols_warm_outside.p95"), Some(600.0));
    assert_eq!(measure(&r, "cli.p95"), None, "count 0 is no data");
    assert_eq!(measure(&r, "search.p95"), None, "absent is no data");
    assert_eq!(measure(&r, "hit_rate_warm"), Some(0.973));
    assert_eq!(measure(&r, "integrity_ok"), Some(1.0));
    assert_eq!(measure(&r, "db_bytes"), Some(12_400_000.0));
    assert_eq!(measure(&r, "lock_waits"), Some(37.0));
    assert_eq!(measure(&r, "unrecovered_corruption"), Some(0.0));
    assert_eq!(measure(&r, "memory_growth_pct"), None, "no workers sampled");
    assert_eq!(measure(&r, "no_such_metric"), None);
}

#[test]
fn unrecovered_corruption_counts_injected_minus_recovered() {
    let mut r = healthy_report();
    r.faults.push(FaultSummary {
        mode: "corrupt:zero-length".into(),
        injected: 4,
        detected: 4,
        recovered: 2,
        ..Default::default()
    });
    r.faults.push(FaultSummary {
        mode: "kill".into(),
        injected: 50,
        ..Default::default()
    });
    assert_eq!(measure(&r, "unrecovered_corruption"), Some(2.0));
}

#[test]
fn the_healthy_report_passes_every_default() {
    let r = healthy_report();
    let results = evaluate(&default_slos(true, 2_000), &r);
    let failed: Vec<_> = results.iter().filter(|r| !r.pass).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(slo::verdict(&results), "pass");

    let get = results.iter().find(|r| r.name == "get.p95").unwrap();
    assert_eq!(get.target, "< 10ms");
    assert_eq!(get.measured, Some(412.0));
    assert_eq!(get.measured_text, "412 µs");
    let warm = results.iter().find(|r| r.name == "hit_rate_warm").unwrap();
    assert_eq!(warm.measured_text, "97.3 %");
    let db = results.iter().find(|r| r.name == "db_bytes").unwrap();
    assert_eq!(db.measured_text, "12.4 MB");
    let wrong = results.iter().find(|r| r.name == "wrong_hits").unwrap();
    assert_eq!(wrong.measured_text, "0");
}

#[test]
fn failures_are_reported_with_their_measurement() {
    let mut r = healthy_report();
    r.latency_us
        .insert("get".into(), latency(10_000, 40, 12_000, 30_000));
    r.oracle.wrong_hits = 2;
    r.integrity.ok = false;
    r.locks.lock_waits = 0;
    r.locks.waits_in_windows = 0;
    r.locks.wait_events_in_windows = 0;
    let results = evaluate(&default_slos(true, 2_000), &r);
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.pass)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "get.p95",
            "integrity_ok",
            "wrong_hits",
            "lock_waits_in_windows"
        ]
    );
    let get = results.iter().find(|r| r.name == "get.p95").unwrap();
    assert_eq!(get.measured_text, "12.0 ms");
    assert_eq!(slo::verdict(&results), "fail");
}

#[test]
fn a_latency_never_measured_fails_as_no_data() {
    let r = healthy_report();
    let slos = vec![
        parse("cli.p95<10ms").unwrap(),
        parse("search_warm_outside.p99<1ms").unwrap(),
    ];
    for result in evaluate(&slos, &r) {
        assert!(!result.pass, "{result:?}");
        assert_eq!(result.measured, None);
        assert_eq!(result.measured_text, "no data");
    }
}

#[test]
fn a_warm_phase_without_lookups_has_no_hit_rate() {
    let mut r = healthy_report();
    r.phases[1].hits = 0;
    r.phases[1].misses = 0;
    let result = &evaluate(&[parse("hit_rate_warm>60%").unwrap()], &r)[0];
    assert!(!result.pass);
    assert_eq!(result.measured_text, "no data");
}

#[test]
fn percent_metrics_and_ops_totals() {
    let mut r = healthy_report();
    r.memory.workers.push(WorkerMemory {
        worker: 0,
        rss_after_warmup_kib: 10_000,
        rss_peak_kib: 10_400,
        growth_pct: 4.0,
        ..Default::default()
    });
    r.memory.max_growth_pct = 4.0;
    let slos = vec![
        parse("memory_growth_pct<10%").unwrap(),
        parse("ops_total>=20000").unwrap(),
    ];
    let results = evaluate(&slos, &r);
    assert!(results[0].pass);
    assert_eq!(results[0].measured_text, "4.0 %");
    assert!(!results[1].pass);
    assert_eq!(results[1].measured_text, "13,000");
}
