//! Short real soaks (a few seconds each) asserting on the JSON report and the exit codes.

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

use trifecta_harness::metrics::HistogramSet;
use trifecta_harness::worker::spec::WorkerResult;

const EXIT_SLO_FAILED: i32 = 1;
const EXIT_USAGE: i32 = 2;

struct Soak {
    _dir: tempfile::TempDir,
    reports: PathBuf,
    workdir: PathBuf,
}

impl Soak {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Soak {
            reports: dir.path().join("reports"),
            workdir: dir.path().join("work"),
            _dir: dir,
        }
    }

    /// A small, fast soak; `extra` adds or overrides options.
    fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("soak").unwrap();
        cmd.args([
            "--duration",
            "3s",
            "--files",
            "40",
            "--processes",
            "2",
            "--threads",
            "2",
        ])
        .args([
            "--interference-period",
            "700ms",
            "--interference-window",
            "120ms",
        ])
        .args(["--progress", "none", "--no-baseline", "--keep-workdir"])
        // A few seconds cannot reach the ci profile's 2,000 operations.
        .args(["--slo", "ops_total>=50"])
        .arg("--report-dir")
        .arg(&self.reports)
        .arg("--workdir")
        .arg(&self.workdir)
        .args(extra)
        .timeout(Duration::from_secs(240));
        cmd
    }

    fn report(&self) -> Value {
        let text = std::fs::read_to_string(self.reports.join("ast_soak_run.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

fn worker_results(workdir: &Path) -> Vec<WorkerResult> {
    let control = workdir.join("control");
    std::fs::read_dir(&control)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.contains("-worker-") && !name.ends_with(".spec.json")
        })
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

#[test]
fn short_soak_passes_and_reconciles() {
    let soak = Soak::new();
    let output = soak.command(&[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "soak failed:\n{stderr}");
    let report = soak.report();
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["complete"], true);
    assert_eq!(report["config"]["processes"], 2);
    assert_eq!(report["config"]["profile"], "ci");
    assert_eq!(report["ops"]["errors"], 0);
    assert_eq!(report["telemetry"]["unparsable"], 0);
    assert_eq!(report["telemetry"]["missing_events"], 0);
    assert_eq!(report["oracle"]["wrong_hits"], 0);
    assert!(report["oracle"]["hits_verified"].as_u64().unwrap() >= 100);
    assert_eq!(report["integrity"]["integrity_check"], "ok");
    assert!(
        report["locks"]["wait_events_in_windows"].as_u64().unwrap() > 0,
        "interference produced no waits"
    );
    // Per-type totals add up to the total.
    let by_type = report["ops"]["by_type"].as_object().unwrap();
    let sum: u64 = by_type.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(report["ops"]["total"].as_u64().unwrap(), sum);
    // Every operation type's histogram holds exactly the operations counted.
    for op in ["symbols", "search", "cli", "mutate"] {
        let counted = by_type[op].as_u64().unwrap();
        assert_eq!(
            report["latency_us"][op]["count"].as_u64().unwrap_or(0),
            counted,
            "{op}"
        );
    }
    for key in ["p50", "p90", "p95", "p99", "p999", "max", "count"] {
        assert!(
            report["latency_us"]["get"][key].is_u64(),
            "latency_us.get.{key}"
        );
    }
    assert!(
        report["cache"]["hit_rate_warm"].as_f64().unwrap()
            > report["cache"]["hit_rate_cold"].as_f64().unwrap()
    );
    assert!(soak.reports.join("ast_soak_run.md").is_file());
}

#[test]
fn merged_histograms_equal_the_sum_of_the_workers() {
    let soak = Soak::new();
    soak.command(&["--no-interference"]).assert().success();
    let report = soak.report();
    let results = worker_results(&soak.workdir);
    let pids: std::collections::HashSet<u32> = results.iter().map(|r| r.pid).collect();
    assert!(
        pids.len() >= 2 * 3,
        "expected 2 workers in each of 3 phases, got {} processes",
        pids.len()
    );
    for op in ["get", "put", "symbols"] {
        let per_worker: u64 = results
            .iter()
            .map(|r| HistogramSet::decode(&r.histograms).unwrap().count(op))
            .sum();
        assert!(per_worker > 0, "{op} recorded nothing");
        assert_eq!(
            report["latency_us"][op]["count"].as_u64().unwrap(),
            per_worker,
            "{op}"
        );
    }
}

#[test]
fn a_failing_slo_exits_with_the_slo_code() {
    let soak = Soak::new();
    let output = soak
        .command(&["--slo", "symbols.p50<1us"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(EXIT_SLO_FAILED));
    let report = soak.report();
    assert_eq!(report["verdict"], "fail");
    let failed: Vec<&Value> = report["slos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["pass"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["name"], "symbols.p50");
}

#[test]
fn disabled_interference_is_caught() {
    let soak = Soak::new();
    let output = soak.command(&["--interference-dry-run"]).output().unwrap();
    assert_eq!(output.status.code(), Some(EXIT_SLO_FAILED));
    let report = soak.report();
    assert_eq!(report["verdict"], "fail");
    let lock_slo = report["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "lock_waits_in_windows")
        .expect("a lock_waits_in_windows SLO when interference is on")
        .clone();
    assert_eq!(lock_slo["pass"], false);
}

#[test]
fn bad_arguments_are_usage_errors_before_anything_starts() {
    let soak = Soak::new();
    let cases: Vec<Vec<&str>> = vec![
        vec!["--processes", "0"],
        vec!["--processes", "100000"],
        vec!["--threads", "0"],
        vec!["--duration", "0s"],
        vec!["--files", "0"],
        vec!["--rate", "-5"],
        vec!["--mix", "symbols=0,search=0"],
        vec!["--mix", "bogus=3"],
        vec!["--slo", "nonsense.p99<1ms"],
        vec!["--corpus", "/definitely/not/here"],
        vec!["--interference-window", "5s"],
    ];
    for case in cases {
        let output = soak.command(&case).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(EXIT_USAGE),
            "{case:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!soak.workdir.exists(), "{case:?} started work");
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    let unwritable = file.path().join("reports");
    let output = Command::cargo_bin("soak")
        .unwrap()
        .arg("--report-dir")
        .arg(&unwritable)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(EXIT_USAGE));
}
