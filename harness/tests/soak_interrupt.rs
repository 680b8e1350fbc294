//! Ctrl-C (SIGINT) stops every worker and the interferer, writes a report marked incomplete,
//! and leaves no stray process or held lock behind.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trifecta::cache::filelock::{CacheLock, LockMode};

const EXIT_INTERRUPTED: i32 = 130;

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(needle)
        {
            found.push(pid);
        }
    }
    found
}

fn wait_for(path: &Path, limit: Duration) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < limit,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigint_writes_an_incomplete_report_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let workdir = dir.path().join("work");
    let mut child = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args([
            "--duration",
            "60s",
            "--files",
            "40",
            "--processes",
            "2",
            "--threads",
            "2",
        ])
        .args(["--progress", "none", "--no-baseline", "--keep-workdir"])
        .arg("--report-dir")
        .arg(&reports)
        .arg("--workdir")
        .arg(&workdir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the warm phase (with its interferer) is running.
    wait_for(
        &workdir.join("control").join("warm-interference.spec.json"),
        Duration::from_secs(120),
    );
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "soak did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(EXIT_INTERRUPTED));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("ast_soak_run.json")).unwrap())
            .unwrap();
    assert_eq!(report["complete"], false);
    assert_eq!(report["verdict"], "fail");
    let markdown = std::fs::read_to_string(reports.join("ast_soak_run.md")).unwrap();
    assert!(markdown.to_uppercase().contains("INCOMPLETE"));
    let stray = processes_mentioning(&workdir.display().to_string());
    assert!(stray.is_empty(), "stray processes: {stray:?}");
    let lock = CacheLock::new(workdir.join("segment/.trifecta/cache/ast_cache_python.lock"));
    assert!(
        lock.acquire(LockMode::Exclusive, Duration::from_millis(200))
            .is_ok(),
        "the cache lock is still held"
    );
}
