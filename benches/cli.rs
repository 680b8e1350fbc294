//! End-to-end process timings of the release `trifecta` binary (issue 3's benchmarks).
//!
//! * warm `trifecta ast symbols` (a cache hit): median and p95 over 200 runs, target median <= 3 ms;
//! * uncached `ast symbols` on a ~229 KB module (CPython's `_pydecimal.py` when python3 is
//!   present, else a generated module of the same size), target <= 60 ms; measured with
//!   `--no-persist-cache` and with a persistent cache whose file changes before every run;
//! * warm `trifecta ctx search` over a generated 2,000-file segment: p95 over 30 runs, target
//!   <= 50 ms.
//!
//! The binary is `TRIFECTA_BIN` when set, else the one Cargo built for this bench
//! (`CARGO_BIN_EXE_trifecta`), else `trifecta` next to this executable's target directory.
//! Build it first with `cargo build --release --bin trifecta`; run with `cargo bench --bench cli`.
//! `TRIFECTA_BENCH_MODULE` names another large module to use.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::Value;

const WARM_RUNS: usize = 200;
const UNCACHED_RUNS: usize = 30;
const SEARCH_RUNS: usize = 30;
const SEARCH_FILES: usize = 2_000;
const SEARCH_MARKDOWN: usize = 100;
const LARGE_MODULE_BYTES: usize = 229 * 1024;
/// Variables of the binary that must not leak in from the caller's environment.
const ENV_VARS: [&str; 6] = [
    "TRIFECTA_AST_PERSIST",
    "TRIFECTA_MAX_FILE_BYTES",
    "TRIFECTA_NO_TELEMETRY",
    "TRIFECTA_RUN_ID",
    "TRIFECTA_TELEMETRY_DIR",
    "TRIFECTA_TELEMETRY_MAX_BYTES",
];

/// One line of the result table.
struct Row {
    name: String,
    runs: usize,
    median_us: u64,
    p95_us: u64,
    /// `(description, limit in µs, true when the limit applies to the median)`.
    target: Option<(&'static str, u64, bool)>,
}

impl Row {
    fn status(&self) -> &'static str {
        match self.target {
            None => "",
            Some((_, limit, on_median)) => {
                let value = if on_median {
                    self.median_us
                } else {
                    self.p95_us
                };
                if value <= limit { "ok" } else { "MISSED" }
            }
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let bin = locate_binary();
    println!("binary: {}", bin.display());
    if !bin.is_file() {
        eprintln!(
            "trifecta binary not found; build it with `cargo build --release --bin trifecta` or set TRIFECTA_BIN"
        );
        std::process::exit(1);
    }
    if bin.components().any(|c| c.as_os_str() == "debug") {
        println!("warning: this looks like a debug build; the targets are for release builds");
    }
    let tmp = tempfile::Builder::new()
        .prefix("trifecta-bench-cli-")
        .tempdir()
        .expect("temp dir");
    let base = tmp.path().canonicalize().expect("canonical temp dir");

    let mut rows = vec![spawn_floor(&bin, &base)];
    rows.push(warm_symbols(&bin, &base.join("warm")));
    let (source, origin) = large_module();
    println!("large module: {origin}, {} bytes", source.len());
    rows.extend(uncached_symbols(&bin, &base.join("uncached"), &source));
    rows.extend(warm_search(&bin, &base.join("search")));
    print_table(&rows);
}

/// `TRIFECTA_BIN`, the bench's own binary dependency, or `<target>/<profile>/trifecta`.
fn locate_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TRIFECTA_BIN") {
        return PathBuf::from(path);
    }
    if let Some(path) = option_env!("CARGO_BIN_EXE_trifecta").map(PathBuf::from)
        && path.is_file()
    {
        return path;
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/cli-<hash> -> target/<profile>/trifecta
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let sibling = profile_dir.join("trifecta");
    if sibling.is_file() {
        return sibling;
    }
    profile_dir
        .parent()
        .map(|target| target.join("release").join("trifecta"))
        .unwrap_or(sibling)
}

fn command(bin: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for var in ENV_VARS {
        cmd.env_remove(var);
    }
    cmd.current_dir(cwd);
    cmd
}

/// Runs `cmd`, returns the wall time of the whole process and its output.
fn timed(cmd: &mut Command) -> (Duration, Output) {
    let started = Instant::now();
    let output = cmd.output().expect("run trifecta");
    let elapsed = started.elapsed();
    if !output.status.success() {
        panic!(
            "trifecta failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    (elapsed, output)
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram")
}

fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let us = u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 60_000_000);
    histogram.record(us).expect("record");
}

fn row(name: &str, h: &Histogram<u64>, target: Option<(&'static str, u64, bool)>) -> Row {
    Row {
        name: name.to_string(),
        runs: h.len() as usize,
        median_us: h.value_at_quantile(0.5),
        p95_us: h.value_at_quantile(0.95),
        target,
    }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("dir");
    }
    std::fs::write(path, bytes).expect("write");
}

/// The cost of starting the process at all: `trifecta --version`.
fn spawn_floor(bin: &Path, cwd: &Path) -> Row {
    let mut h = histogram();
    for _ in 0..WARM_RUNS {
        let (elapsed, _) = timed(command(bin, cwd).arg("--version"));
        record(&mut h, elapsed);
    }
    row("process floor (trifecta --version)", &h, None)
}

/// A module of about 300 lines, like an ordinary source file.
fn ordinary_module(seed: usize) -> String {
    let mut source = format!("\"\"\"Module {seed}.\"\"\"\n\nimport os\n\n");
    for class in 0..8 {
        source.push_str(&format!(
            "\nclass Service{seed}x{class}:\n    \"\"\"A service.\"\"\"\n\n"
        ));
        for method in 0..5 {
            source.push_str(&format!(
                "    def handle_{method}(self, request, *args, **kwargs):\n        value = request.get('k{method}', {method})\n        if value > {method}:\n            return os.path.join(str(value), 'x')\n        return None\n\n"
            ));
        }
    }
    source.push_str(&format!("\ndef helper_{seed}(x):\n    return x + 1\n"));
    source
}

fn warm_symbols(bin: &Path, segment: &Path) -> Row {
    write(&segment.join("app/service.py"), ordinary_module(0));
    write(&segment.join("app/__init__.py"), "");
    let run = || {
        timed(
            command(bin, segment)
                .args([
                    "ast",
                    "symbols",
                    "sym://python/mod/app.service",
                    "--segment",
                ])
                .arg(segment),
        )
    };
    let (_, first) = run();
    assert_eq!(json(&first)["cache_status"], "miss");
    let mut h = histogram();
    for _ in 0..WARM_RUNS {
        let (elapsed, output) = run();
        assert_eq!(json(&output)["cache_status"], "hit", "warm runs hit");
        record(&mut h, elapsed);
    }
    row(
        "ast symbols, warm (cache hit)",
        &h,
        Some(("median <= 3 ms", 3_000, true)),
    )
}

/// `TRIFECTA_BENCH_MODULE`, CPython's `_pydecimal.py`, or a generated module of 229 KB.
fn large_module() -> (Vec<u8>, String) {
    if let Some(path) = std::env::var_os("TRIFECTA_BENCH_MODULE") {
        let path = PathBuf::from(path);
        let bytes = std::fs::read(&path).expect("read TRIFECTA_BENCH_MODULE");
        return (bytes, path.display().to_string());
    }
    if let Some(path) = stdlib_dir().map(|dir| dir.join("_pydecimal.py"))
        && let Ok(bytes) = std::fs::read(&path)
    {
        return (bytes, path.display().to_string());
    }
    let mut source = String::new();
    let mut seed = 0;
    while source.len() < LARGE_MODULE_BYTES {
        source.push_str(&ordinary_module(seed));
        seed += 1;
    }
    (source.into_bytes(), "generated".to_string())
}

fn stdlib_dir() -> Option<PathBuf> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .ok()?;
    let path = String::from_utf8(output.stdout).ok()?;
    output.status.success().then(|| PathBuf::from(path.trim()))
}

fn uncached_symbols(bin: &Path, segment: &Path, source: &[u8]) -> Vec<Row> {
    let file = segment.join("big_module.py");
    write(&file, source);
    let args = |cmd: &mut Command| {
        cmd.args(["ast", "symbols", "sym://python/mod/big_module", "--segment"])
            .arg(segment);
    };

    let mut memory = histogram();
    let mut symbols = 0;
    for _ in 0..UNCACHED_RUNS {
        let mut cmd = command(bin, segment);
        args(&mut cmd);
        let (elapsed, output) = timed(cmd.arg("--no-persist-cache"));
        let value = json(&output);
        assert_eq!(value["miss_reason"], "ephemeral_cache");
        symbols = value["symbols"].as_array().map_or(0, Vec::len);
        record(&mut memory, elapsed);
    }
    println!("large module: {symbols} symbols");

    // Persistent cache, content changed before every run: parse + stale replacement in SQLite.
    let mut persistent = histogram();
    for run in 0..=UNCACHED_RUNS {
        let mut changed = source.to_vec();
        changed.extend(format!("\n# bench run {run}\n").as_bytes());
        write(&file, changed);
        let mut cmd = command(bin, segment);
        args(&mut cmd);
        let (elapsed, output) = timed(&mut cmd);
        let status = json(&output)["cache_status"].clone();
        assert_ne!(status, "hit", "changed content never hits");
        if run > 0 {
            record(&mut persistent, elapsed);
        }
    }
    let target = Some(("<= 60 ms", 60_000, true));
    vec![
        row(
            &format!("ast symbols, uncached {} KB (memory)", source.len() / 1024),
            &memory,
            target,
        ),
        row(
            &format!(
                "ast symbols, uncached {} KB (sqlite, file changed)",
                source.len() / 1024
            ),
            &persistent,
            target,
        ),
    ]
}

fn warm_search(bin: &Path, segment: &Path) -> Vec<Row> {
    for i in 0..SEARCH_FILES - SEARCH_MARKDOWN {
        write(
            &segment.join(format!("pkg{}/mod_{i}.py", i % 40)),
            ordinary_module(i),
        );
    }
    for i in 0..SEARCH_MARKDOWN {
        let text = format!(
            "# Guide {i}\n\nHow the services handle requests.\n\n## Handler notes {i}\n\nDetails.\n"
        );
        write(&segment.join(format!("docs/guide_{i}.md")), text);
    }
    let run = || {
        timed(
            command(bin, segment)
                .args(["ctx", "search", "-q", "handle_3", "--json", "-s"])
                .arg(segment),
        )
    };
    let (cold_time, cold) = run();
    let cold = json(&cold);
    assert_eq!(cold["summary"]["files_scanned"], SEARCH_FILES);
    let mut cold_h = histogram();
    record(&mut cold_h, cold_time);
    let mut warm = histogram();
    for _ in 0..SEARCH_RUNS {
        let (elapsed, output) = run();
        let value = json(&output);
        assert_eq!(
            value["summary"]["cache_misses"], 0,
            "warm search parses nothing"
        );
        record(&mut warm, elapsed);
    }
    vec![
        row(
            &format!("ctx search, cold ({SEARCH_FILES} files, 1 run)"),
            &cold_h,
            None,
        ),
        row(
            &format!("ctx search, warm ({SEARCH_FILES} files)"),
            &warm,
            Some(("p95 <= 50 ms", 50_000, false)),
        ),
    ]
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn print_table(rows: &[Row]) {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(10);
    println!();
    println!(
        "{:<width$}  {:>5}  {:>10}  {:>10}  {:<15}  status",
        "measurement", "runs", "median", "p95", "target"
    );
    for row in rows {
        println!(
            "{:<width$}  {:>5}  {:>10}  {:>10}  {:<15}  {}",
            row.name,
            row.runs,
            ms(row.median_us),
            ms(row.p95_us),
            row.target.map_or("-", |t| t.0),
            row.status()
        );
    }
}
