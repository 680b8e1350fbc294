//! End-to-end process timings of the release `trifecta` binary (issue 3's benchmarks).
//!
//! * warm `trifecta ast symbols` (a cache hit): median and p95 over 200 runs, target median <= 3 ms;
//! * uncached `ast symbols` on a 229 KB module (CPython's `_pydecimal.py` when python3 is
//!   present, else a generated module of the same size), target <= 60 ms; measured with
//!   `--no-persist-cache` and with a persistent cache whose file changes before every run;
//! * warm `trifecta ctx search` over a generated 2,000-file segment: p95 over 30 runs, target
//!   <= 50 ms.
//!
//! Every run is timed from spawn to exit (wall) and by the CPU time the child used (user + sys,
//! from `getrusage(RUSAGE_CHILDREN)`); on a busy machine the CPU column is the steadier one.
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
const LARGE_MODULE_BYTES: usize = 229_000;
/// Variables of the binary that must not leak in from the caller's environment.
const ENV_VARS: [&str; 6] = [
    "TRIFECTA_AST_PERSIST",
    "TRIFECTA_MAX_FILE_BYTES",
    "TRIFECTA_NO_TELEMETRY",
    "TRIFECTA_RUN_ID",
    "TRIFECTA_TELEMETRY_DIR",
    "TRIFECTA_TELEMETRY_MAX_BYTES",
];

/// What a limit applies to.
#[derive(Clone, Copy)]
enum Stat {
    Median,
    P95,
}

/// A target: its label, the statistic and the limit in µs.
type Target = Option<(&'static str, Stat, u64)>;

/// Wall and CPU times of one measurement.
struct Sample {
    wall: Histogram<u64>,
    cpu: Histogram<u64>,
}

impl Sample {
    fn new() -> Self {
        let histogram = || Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram");
        Sample {
            wall: histogram(),
            cpu: histogram(),
        }
    }

    fn record(&mut self, run: &Run) {
        let us = |d: Duration| {
            u64::try_from(d.as_micros())
                .unwrap_or(u64::MAX)
                .clamp(1, 600_000_000)
        };
        self.wall.record(us(run.wall)).expect("record");
        self.cpu.record(us(run.cpu)).expect("record");
    }
}

/// One line of the result table.
struct Row {
    name: String,
    sample: Sample,
    target: Target,
}

impl Row {
    fn stat(h: &Histogram<u64>, stat: Stat) -> u64 {
        match stat {
            Stat::Median => h.value_at_quantile(0.5),
            Stat::P95 => h.value_at_quantile(0.95),
        }
    }

    /// `ok` or `MISSED` by wall time, with the CPU verdict when they differ.
    fn status(&self) -> String {
        let Some((_, stat, limit)) = self.target else {
            return String::new();
        };
        let verdict = |h: &Histogram<u64>| {
            if Self::stat(h, stat) <= limit {
                "ok"
            } else {
                "MISSED"
            }
        };
        let (wall, cpu) = (verdict(&self.sample.wall), verdict(&self.sample.cpu));
        if wall == cpu {
            wall.to_string()
        } else {
            format!("{wall} (cpu: {cpu})")
        }
    }
}

/// One process run.
struct Run {
    wall: Duration,
    cpu: Duration,
    output: Output,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.output.stdout).expect("JSON output")
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
            "trifecta binary not found: run `cargo build --release --bin trifecta` or set TRIFECTA_BIN"
        );
        std::process::exit(1);
    }
    if bin.components().any(|c| c.as_os_str() == "debug") {
        println!("warning: this looks like a debug build; the targets are for release builds");
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    println!("cpus: {cpus}, load average: {}", load_average());
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
    println!("load average after: {}", load_average());
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".into())
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

/// User + system CPU time of every waited-for child so far.
fn children_cpu() -> Duration {
    // SAFETY: `usage` is a valid, writable rusage; getrusage only fills it in.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Runs `cmd` to completion; fails the bench if it fails.
fn run(cmd: &mut Command) -> Run {
    let cpu_before = children_cpu();
    let started = Instant::now();
    let output = cmd.output().expect("run trifecta");
    let wall = started.elapsed();
    let cpu = children_cpu().saturating_sub(cpu_before);
    if !output.status.success() {
        panic!(
            "trifecta failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Run { wall, cpu, output }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("dir");
    }
    std::fs::write(path, bytes).expect("write");
}

/// The cost of starting the process at all: `trifecta --version`.
fn spawn_floor(bin: &Path, cwd: &Path) -> Row {
    let mut sample = Sample::new();
    for _ in 0..WARM_RUNS {
        sample.record(&run(command(bin, cwd).arg("--version")));
    }
    Row {
        name: "process floor (trifecta --version)".into(),
        sample,
        target: None,
    }
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
    let symbols = || {
        run(command(bin, segment)
            .args([
                "ast",
                "symbols",
                "sym://python/mod/app.service",
                "--segment",
            ])
            .arg(segment))
    };
    assert_eq!(symbols().json()["cache_status"], "miss");
    let mut sample = Sample::new();
    for _ in 0..WARM_RUNS {
        let run = symbols();
        assert_eq!(run.json()["cache_status"], "hit", "warm runs hit");
        sample.record(&run);
    }
    Row {
        name: "ast symbols, warm (cache hit)".into(),
        sample,
        target: Some(("median <= 3 ms", Stat::Median, 3_000)),
    }
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
    let symbols = |extra: &[&str]| {
        run(command(bin, segment)
            .args(["ast", "symbols", "sym://python/mod/big_module", "--segment"])
            .arg(segment)
            .args(extra))
    };
    let target = Some(("<= 60 ms", Stat::Median, 60_000));
    let kb = source.len() / 1000;

    let mut memory = Sample::new();
    let mut count = 0;
    for _ in 0..UNCACHED_RUNS {
        let run = symbols(&["--no-persist-cache"]);
        let json = run.json();
        assert_eq!(json["miss_reason"], "ephemeral_cache");
        count = json["symbols"].as_array().map_or(0, Vec::len);
        memory.record(&run);
    }
    println!("large module: {count} symbols");

    // Persistent cache, content changed before every run: parse + replacement in SQLite.
    let mut persistent = Sample::new();
    for index in 0..=UNCACHED_RUNS {
        let mut changed = source.to_vec();
        changed.extend(format!("\n# bench run {index}\n").as_bytes());
        write(&file, changed);
        let run = symbols(&[]);
        assert_ne!(
            run.json()["cache_status"],
            "hit",
            "changed content never hits"
        );
        if index > 0 {
            persistent.record(&run);
        }
    }
    vec![
        Row {
            name: format!("ast symbols, uncached {kb} KB (memory cache)"),
            sample: memory,
            target,
        },
        Row {
            name: format!("ast symbols, uncached {kb} KB (sqlite, file changed)"),
            sample: persistent,
            target,
        },
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
    let search = |query: &str| {
        run(command(bin, segment)
            .args(["ctx", "search", "-q", query, "--json", "-s"])
            .arg(segment))
    };
    let cold = search("helper_17");
    assert_eq!(cold.json()["summary"]["files_scanned"], SEARCH_FILES);
    let mut cold_sample = Sample::new();
    cold_sample.record(&cold);
    let mut rows = vec![Row {
        name: format!("ctx search, cold ({SEARCH_FILES} files, 1 run)"),
        sample: cold_sample,
        target: None,
    }];
    // A selective name query (the target), a query matching nothing (every file is scanned
    // for body matches) and a broad one (thousands of name matches).
    let queries = [
        ("helper_17", Some(("p95 <= 50 ms", Stat::P95, 50_000))),
        ("no_such_name", None),
        ("handle_3", None),
    ];
    for (query, target) in queries {
        let mut sample = Sample::new();
        for _ in 0..SEARCH_RUNS {
            let run = search(query);
            assert_eq!(
                run.json()["summary"]["cache_misses"],
                0,
                "warm search parses nothing"
            );
            sample.record(&run);
        }
        rows.push(Row {
            name: format!("ctx search, warm ({SEARCH_FILES} files, -q {query})"),
            sample,
            target,
        });
    }
    rows
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn print_table(rows: &[Row]) {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(10);
    println!();
    println!(
        "{:<width$}  {:>4}  {:>11}  {:>11}  {:>11}  {:>11}  {:<15}  status",
        "measurement", "runs", "wall median", "wall p95", "cpu median", "cpu p95", "target"
    );
    for row in rows {
        let (wall, cpu) = (&row.sample.wall, &row.sample.cpu);
        println!(
            "{:<width$}  {:>4}  {:>11}  {:>11}  {:>11}  {:>11}  {:<15}  {}",
            row.name,
            wall.len(),
            ms(Row::stat(wall, Stat::Median)),
            ms(Row::stat(wall, Stat::P95)),
            ms(Row::stat(cpu, Stat::Median)),
            ms(Row::stat(cpu, Stat::P95)),
            row.target.map_or("-", |t| t.0),
            row.status()
        );
    }
}
