//! Helpers shared by the cache and telemetry integration tests.
//!
//! Every test works on its own temporary segment and writes telemetry to a directory it
//! names explicitly. Cross-process tests re-run the current test binary as a child:
//! `<exe> --exact <test> --nocapture --test-threads=1` with `TRIFECTA_TEST_CHILD=<role>`; the
//! named test checks [`child_role`] first, plays the role and returns (a panic makes the
//! child exit non-zero). A child prints [`CHILD_OK`] when its role completed, so a parent
//! never mistakes "no test matched" for success.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use trifecta::cache::{CacheConfig, CacheKey, CacheStack, SourceMeta, build_cache};
use trifecta::segment::Segment;
use trifecta::symbols::{Symbol, SymbolKind, SymbolTable};
use trifecta::telemetry::{Level, Telemetry, TelemetryConfig, reader};

/// Names the role a child process plays.
pub const CHILD_ENV: &str = "TRIFECTA_TEST_CHILD";
/// The segment directory a child works on.
pub const SEGMENT_ENV: &str = "TRIFECTA_TEST_SEGMENT";
/// The telemetry directory a child writes to.
pub const EVENTS_ENV: &str = "TRIFECTA_TEST_EVENTS";
/// Printed by a child whose role completed.
pub const CHILD_OK: &str = "TRIFECTA-TEST-CHILD-OK";
/// Lock and busy timeout of the configurations the tests build.
pub const PATIENCE: Duration = Duration::from_secs(120);
/// Run id of the telemetry the tests configure.
pub const RUN_ID: &str = "itest-run";

/// Environment variables of the library that a child must not inherit by accident.
const LIBRARY_ENV: [&str; 5] = [
    "TRIFECTA_NO_TELEMETRY",
    "TRIFECTA_TELEMETRY_DIR",
    "TRIFECTA_RUN_ID",
    "TRIFECTA_AST_PERSIST",
    "TRIFECTA_TELEMETRY_MAX_BYTES",
];

/// A segment under test and where its telemetry goes.
pub struct TestSegment {
    /// Owns the temporary directory (`None` in a child, which works on its parent's).
    tmp: Option<TempDir>,
    /// The temporary directory: holds `seg/` (the segment) and `telemetry/`.
    pub base: PathBuf,
    pub segment: Segment,
    pub events_dir: PathBuf,
}

impl TestSegment {
    /// A fresh segment `<tmp>/seg` with telemetry in `<tmp>/telemetry`.
    pub fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("trifecta-itest-")
            .tempdir()
            .expect("temp dir");
        let base = tmp.path().canonicalize().expect("canonical temp dir");
        let root = base.join("seg");
        std::fs::create_dir_all(&root).expect("segment dir");
        let segment = Segment::open(&root).expect("open segment");
        TestSegment {
            tmp: Some(tmp),
            events_dir: base.join("telemetry"),
            base,
            segment,
        }
    }

    /// The segment and telemetry directory a parent passed to this child.
    pub fn from_child_env() -> Self {
        let root = PathBuf::from(std::env::var_os(SEGMENT_ENV).expect("child segment env"));
        let events_dir = PathBuf::from(std::env::var_os(EVENTS_ENV).expect("child events env"));
        let segment = Segment::open(&root).expect("open segment in child");
        TestSegment {
            tmp: None,
            base: root.parent().expect("segment parent").to_path_buf(),
            segment,
            events_dir,
        }
    }

    /// The segment root.
    pub fn root(&self) -> &Path {
        &self.segment.root
    }

    /// A telemetry configuration written for this test (level `full`).
    pub fn telemetry_config(&self) -> TelemetryConfig {
        TelemetryConfig {
            level: Level::Full,
            dir: self.events_dir.clone(),
            run_id: RUN_ID.to_string(),
            segment_id: self.segment.id.clone(),
            max_bytes: 64 * 1024 * 1024,
        }
    }

    /// Telemetry into [`TestSegment::events_dir`].
    pub fn telemetry(&self) -> Telemetry {
        Telemetry::open(&self.telemetry_config()).expect("open telemetry")
    }

    /// A cache configuration with explicit persistence and this test's telemetry.
    pub fn config(&self, persist: bool) -> CacheConfig {
        self.config_with(persist, self.telemetry())
    }

    /// A cache configuration with explicit persistence and the given telemetry.
    ///
    /// The lock and busy timeouts are long ([`PATIENCE`]): these tests check what the cache
    /// stores, not how long it waits, and on a loaded machine many processes writing at once
    /// can keep one of them waiting for SQLite's single writer lock longer than the default
    /// timeouts (it then degrades as designed: `LockTimeout` or `Busy`). The tests of the
    /// timeouts set their own.
    pub fn config_with(&self, persist: bool, telemetry: Telemetry) -> CacheConfig {
        let mut config = CacheConfig::new(self.segment.clone(), telemetry);
        config.persist = Some(persist);
        config.lock.timeout = PATIENCE;
        config.sqlite.busy_timeout = PATIENCE;
        config
    }

    /// The default stack (SQLite when `persist`, memory otherwise).
    pub fn stack(&self, persist: bool) -> CacheStack {
        build_cache(self.config(persist)).expect("build cache stack")
    }

    /// Every event written so far; fails on any line that does not parse.
    pub fn events(&self) -> Vec<Value> {
        read_events(&self.events_dir)
    }

    /// Environment that points a child at this segment and telemetry directory.
    pub fn child_env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            (SEGMENT_ENV, self.segment.root.clone()),
            (EVENTS_ENV, self.events_dir.clone()),
        ]
    }
}

/// Reads every events file in `dir`, asserting that every line parses.
pub fn read_events(dir: &Path) -> Vec<Value> {
    let read = reader::read_dir(dir).expect("read telemetry dir");
    assert!(
        read.unparsable.is_empty(),
        "unparsable telemetry lines: {:?}",
        read.unparsable
    );
    read.events
}

/// Every string anywhere inside `value`, keys included.
pub fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                strings(v, out);
            }
        }
        _ => {}
    }
}

/// No string in `event` starts with `/`, and none contains one of the `forbidden` paths.
pub fn assert_no_paths(event: &Value, forbidden: &[&Path]) {
    let mut all = Vec::new();
    strings(event, &mut all);
    for s in &all {
        assert!(!s.starts_with('/'), "absolute path {s:?} in {event}");
        for path in forbidden {
            let path = path.to_string_lossy();
            assert!(
                !s.contains(path.as_ref()),
                "path {path} inside {s:?} in {event}"
            );
        }
    }
}

/// Events named `cmd`.
pub fn events_named<'a>(events: &'a [Value], cmd: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["cmd"] == cmd).collect()
}

/// The role this process plays when it was started as a child.
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ENV).ok().filter(|r| !r.is_empty())
}

/// Announces that the child's role completed.
pub fn child_done(role: &str) {
    println!("{CHILD_OK} {role}");
}

/// A command that re-runs `test` of this test binary as a child playing `role`.
pub fn child_command(test: &str, role: &str) -> Command {
    let exe = std::env::current_exe().expect("current test binary");
    let mut command = Command::new(exe);
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in LIBRARY_ENV {
        command.env_remove(name);
    }
    command
}

/// Starts a child with the segment's environment plus `extra`.
pub fn spawn_child(
    test: &str,
    role: &str,
    segment: &TestSegment,
    extra: &[(&str, String)],
) -> Child {
    let mut command = child_command(test, role);
    command.envs(segment.child_env());
    for (name, value) in extra {
        command.env(name, value);
    }
    command.spawn().expect("spawn child test process")
}

/// Waits for a child and asserts that it succeeded and completed its role; returns its stdout.
pub fn wait_ok(child: Child, what: &str) -> String {
    let output = child.wait_with_output().expect("wait for child");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains(CHILD_OK),
        "{what} exited 0 without completing its role (test not found?):\n{stdout}\n{stderr}"
    );
    stdout
}

/// Waits until `path` exists (the other side signals through files). Panics after a minute:
/// that is a hang, not a timing assertion.
pub fn wait_for_file(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "gave up waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Creates an empty marker file.
pub fn touch(path: &Path) {
    std::fs::write(path, b"").expect("write marker file");
}

/// A key for `content` of `file_rel`.
pub fn key(file_rel: &str, content: &[u8]) -> CacheKey {
    CacheKey::new(file_rel, content)
}

/// Source metadata derived from content: size is its length, mtime a given stamp.
pub fn meta_for(content: &[u8], mtime_ns: i64) -> SourceMeta {
    SourceMeta {
        mtime_ns,
        size: content.len() as u64,
    }
}

fn symbol(kind: SymbolKind, name: &str, qualname: &str, line: u32, end_line: u32) -> Symbol {
    Symbol {
        kind,
        name: name.to_string(),
        qualname: qualname.to_string(),
        line,
        end_line,
    }
}

/// A table whose first symbol's name is `tag`, with every [`SymbolKind`].
pub fn table_for(tag: &str) -> SymbolTable {
    let class = format!("C_{tag}");
    SymbolTable {
        symbols: vec![
            symbol(SymbolKind::Function, tag, tag, 1, 2),
            symbol(SymbolKind::Class, &class, &class, 4, 9),
            symbol(SymbolKind::Method, "run", &format!("{class}.run"), 5, 9),
        ],
        parse_errors: 0,
    }
}

/// A table with every kind, nested qualnames, non-ASCII names and parse errors.
pub fn all_kinds_table() -> SymbolTable {
    SymbolTable {
        symbols: vec![
            symbol(SymbolKind::Class, "Outer", "Outer", 1, 40),
            symbol(SymbolKind::Class, "Inner", "Outer.Inner", 2, 10),
            symbol(SymbolKind::Method, "méthode", "Outer.Inner.méthode", 3, 10),
            symbol(SymbolKind::Method, "__init__", "Outer.__init__", 12, 40),
            symbol(SymbolKind::Function, "f", "f", 42, 43),
            symbol(SymbolKind::Function, "函数", "函数", 45, u32::MAX),
        ],
        parse_errors: 3,
    }
}

/// A table with `n` symbols (to make values of a chosen size).
pub fn table_with(tag: &str, n: u32) -> SymbolTable {
    SymbolTable {
        symbols: (0..n)
            .map(|i| {
                let name = format!("{tag}_fn_{i}");
                symbol(SymbolKind::Function, &name, &name, i * 3 + 1, i * 3 + 2)
            })
            .collect(),
        parse_errors: 0,
    }
}

/// A small deterministic PRNG (xorshift64*), so tests need no extra dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// The quarantined database files (`<db>.corrupt-*`, without their `-wal`/`-shm` companions)
/// in the segment's cache directory.
pub fn quarantined_files(segment: &Segment) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(segment.cache_dir()) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(".db.corrupt-"))
        })
        .collect();
    found.sort();
    found
}
