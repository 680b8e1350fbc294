//! Latency and throughput of the AST cache stack (DESIGN.md section 3).
//!
//! A plain `fn main()` benchmark (no criterion). It measures, with HDR histograms:
//!
//! 1. full-stack hits (`build_cache`: InstrumentedCache -> LockedCache -> SqliteCache, telemetry
//!    on, writing into a temporary directory) over pre-populated keys,
//! 2. full-stack puts with changing content (every put is a real write transaction),
//! 3. `MemoryCache` hits,
//! 4. `Telemetry::emit` of a typical cache event,
//! 5. the same hit one layer at a time (raw rusqlite point select, bare `SqliteCache`,
//!    `LockedCache`, full stack with telemetry off and on) so each layer's cost is visible,
//! 6. multi-process throughput: the bench binary re-runs itself as N child processes that share
//!    one segment and do 80/20 get/put for a few seconds.
//!
//! Run with `cargo bench --bench cache`. `TRIFECTA_BENCH_QUICK=1` shrinks every count so the
//! bench can be smoke-run in CI.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::{Value, json};

use trifecta::cache::filelock::{CacheLock, LockMode};
use trifecta::cache::{
    AstCache, CacheConfig, CacheError, CacheKey, CacheStats, CheckReport, GcReport, LockConfig,
    LockedCache, Lookup, Maintenance, MemoryCache, MemoryLimits, MissReason, PutOutcome,
    SourceMeta, SqliteCache, SqliteConfig, build_cache,
};
use trifecta::cache::{InstrumentedCache, factory::CacheStack};
use trifecta::segment::Segment;
use trifecta::symbols::{Symbol, SymbolKind, SymbolTable};
use trifecta::telemetry::sink::JsonlSink;
use trifecta::telemetry::{DEFAULT_MAX_BYTES, Event, EventLine, Level, Telemetry, TelemetryConfig};

/// `1` shrinks every iteration count (CI smoke run).
const ENV_QUICK: &str = "TRIFECTA_BENCH_QUICK";
/// Set in the children of the multi-process run; the value is the worker index.
const ENV_CHILD: &str = "TRIFECTA_BENCH_CACHE_CHILD";
const ENV_CHILD_SEGMENT: &str = "TRIFECTA_BENCH_CACHE_SEGMENT";
const ENV_CHILD_TELEMETRY: &str = "TRIFECTA_BENCH_CACHE_TELEMETRY";
const ENV_CHILD_FILES: &str = "TRIFECTA_BENCH_CACHE_FILES";
const ENV_CHILD_MILLIS: &str = "TRIFECTA_BENCH_CACHE_MILLIS";

/// Histograms record nanoseconds, up to one minute, with 3 significant digits.
const HIST_MAX_NS: u64 = 60_000_000_000;
/// Content variants per file in the multi-process run (puts cycle through them).
const MP_VARIANTS: usize = 4;
/// A base mtime (ns) so `SourceMeta` looks like a real file's.
const BASE_MTIME_NS: i64 = 1_767_225_600_000_000_000;

struct Params {
    files: usize,
    hit_ops: usize,
    put_ops: usize,
    mem_ops: usize,
    emit_ops: usize,
    mp_procs: usize,
    mp_files: usize,
    mp_duration: Duration,
}

impl Params {
    fn from_env() -> (Self, bool) {
        let quick = std::env::var(ENV_QUICK).is_ok_and(|v| v == "1" || v == "true");
        let params = if quick {
            Params {
                files: 200,
                hit_ops: 5_000,
                put_ops: 1_000,
                mem_ops: 50_000,
                emit_ops: 5_000,
                mp_procs: 4,
                mp_files: 500,
                mp_duration: Duration::from_secs(1),
            }
        } else {
            Params {
                files: 1_000,
                hit_ops: 100_000,
                put_ops: 20_000,
                mem_ops: 1_000_000,
                emit_ops: 100_000,
                mp_procs: 4,
                mp_files: 500,
                mp_duration: Duration::from_secs(5),
            }
        };
        (params, quick)
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

/// A latency target in microseconds.
#[derive(Clone, Copy, Default)]
struct Target {
    p50_us: Option<f64>,
    p99_us: Option<f64>,
}

impl Target {
    fn p50(p50_us: f64) -> Self {
        Target {
            p50_us: Some(p50_us),
            p99_us: None,
        }
    }

    fn p50_p99(p50_us: f64, p99_us: f64) -> Self {
        Target {
            p50_us: Some(p50_us),
            p99_us: Some(p99_us),
        }
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p50) = self.p50_us {
            parts.push(format!("p50<={p50}"));
        }
        if let Some(p99) = self.p99_us {
            parts.push(format!("p99<={p99}"));
        }
        parts.join(" ")
    }

    fn is_set(&self) -> bool {
        self.p50_us.is_some() || self.p99_us.is_some()
    }

    fn met(&self, hist: &Histogram<u64>) -> bool {
        let p50_ok = self
            .p50_us
            .is_none_or(|t| us(hist.value_at_quantile(0.5)) <= t);
        let p99_ok = self
            .p99_us
            .is_none_or(|t| us(hist.value_at_quantile(0.99)) <= t);
        p50_ok && p99_ok
    }
}

struct Row {
    name: String,
    hist: Histogram<u64>,
    target: Target,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
    throughput: Vec<String>,
}

impl Report {
    fn add(&mut self, name: &str, hist: Histogram<u64>, target: Target) {
        eprintln!(
            "  {name}: p50 {:.2} us, p99 {:.2} us ({} samples)",
            us(hist.value_at_quantile(0.5)),
            us(hist.value_at_quantile(0.99)),
            hist.len()
        );
        self.rows.push(Row {
            name: name.to_string(),
            hist,
            target,
        });
    }

    fn note(&mut self, text: String) {
        eprintln!("  note: {text}");
        self.notes.push(text);
    }

    fn p50(&self, name: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|row| row.name == name)
            .map(|row| us(row.hist.value_at_quantile(0.5)))
    }

    fn print(&self) {
        let width = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(10)
            .max(10);
        println!();
        println!("latency (microseconds)");
        println!(
            "{:<width$} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9}  {:<18} verdict",
            "measurement", "samples", "p50", "p90", "p99", "p99.9", "max", "mean", "target"
        );
        println!("{}", "-".repeat(width + 100));
        for row in &self.rows {
            let h = &row.hist;
            let verdict = if !row.target.is_set() {
                ""
            } else if row.target.met(h) {
                "ok"
            } else {
                "MISSED"
            };
            println!(
                "{:<width$} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10.2} {:>9.2}  {:<18} {}",
                row.name,
                h.len(),
                us(h.value_at_quantile(0.5)),
                us(h.value_at_quantile(0.9)),
                us(h.value_at_quantile(0.99)),
                us(h.value_at_quantile(0.999)),
                us(h.max()),
                h.mean() / 1000.0,
                row.target.describe(),
                verdict
            );
        }
        self.print_layers();
        if !self.throughput.is_empty() {
            println!();
            println!("multi-process throughput");
            for line in &self.throughput {
                println!("  {line}");
            }
        }
        if !self.notes.is_empty() {
            println!();
            println!("notes");
            for note in &self.notes {
                println!("  - {note}");
            }
        }
    }

    /// p50 differences between successive layers of a hit and of a put.
    fn print_layers(&self) {
        let hit_layers = [
            (
                "raw SQLite SELECT (rusqlite, prepared)",
                "raw sqlite: point SELECT",
            ),
            (
                "+ checksum + postcard decode",
                "raw sqlite: SELECT + checksum + decode",
            ),
            (
                "+ SqliteCache plumbing (pool, stat, counters)",
                "hit: bare SqliteCache",
            ),
            (
                "+ LockedCache (flock gate + shared lock)",
                "hit: LockedCache(SqliteCache)",
            ),
            (
                "+ InstrumentedCache, telemetry off",
                "hit: full stack, telemetry off",
            ),
            (
                "+ telemetry on (event + JSONL append)",
                "hit: full stack, telemetry ON",
            ),
        ];
        let put_layers = [
            ("bare SqliteCache put", "put: bare SqliteCache"),
            (
                "+ LockedCache + InstrumentedCache, telemetry off",
                "put: full stack, telemetry off",
            ),
            ("+ telemetry on", "put: full stack, telemetry ON"),
        ];
        println!();
        println!("layer attribution (p50, microseconds; delta = cost added by the layer)");
        for (title, layers) in [("hit", &hit_layers[..]), ("put", &put_layers[..])] {
            let mut previous: Option<f64> = None;
            for (label, row) in layers {
                let Some(p50) = self.p50(row) else { continue };
                let delta = previous.map_or(String::new(), |p| format!("{:+8.2}", p50 - p));
                println!("  {title}: {label:<50} {p50:>8.2}  {delta}");
                previous = Some(p50);
            }
        }
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_NS, 3).expect("valid histogram bounds")
}

fn elapsed_ns(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Runs `warmup` untimed then `n` timed iterations; `prep` builds each input outside the timing.
fn measure<T>(
    n: usize,
    warmup: usize,
    mut prep: impl FnMut(usize) -> T,
    mut op: impl FnMut(T),
) -> Histogram<u64> {
    for i in 0..warmup {
        op(prep(i));
    }
    let mut hist = new_hist();
    for i in 0..n {
        let input = prep(warmup + i);
        let started = Instant::now();
        op(input);
        hist.saturating_record(elapsed_ns(started));
    }
    hist
}

// ---------------------------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------------------------

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const CLASS_WORDS: [&str; 12] = [
    "Config", "Request", "Session", "Parser", "Token", "Cache", "Index", "Schema", "Worker",
    "Router", "Buffer", "Reader",
];
const CLASS_SUFFIXES: [&str; 6] = ["Loader", "Handler", "Manager", "Builder", "Store", "Client"];
const METHOD_NAMES: [&str; 16] = [
    "__init__",
    "__repr__",
    "load",
    "save",
    "validate",
    "parse_section",
    "to_dict",
    "from_dict",
    "close",
    "open",
    "refresh",
    "get_item",
    "set_item",
    "iter_rows",
    "_normalize",
    "_emit_event",
];
const FUNCTION_NAMES: [&str; 10] = [
    "main",
    "build_parser",
    "read_config",
    "format_report",
    "resolve_path",
    "load_plugins",
    "run_checks",
    "merge_options",
    "compute_digest",
    "setup_logging",
];

/// One file of the workload: what a real extraction of a ~250-line module yields.
struct FileCase {
    key: CacheKey,
    meta: SourceMeta,
    table: SymbolTable,
}

fn file_rel(file: usize) -> String {
    format!("src/pkg_{}/module_{file:04}.py", file % 10)
}

/// A symbol table with 20 symbols: two classes with 8 and 6 methods, and 4 functions.
fn make_table(file: usize, revision: u64) -> SymbolTable {
    let mut symbols = Vec::with_capacity(20);
    let mut line = 1 + (revision % 7) as u32;
    let mut push = |kind, name: &str, qualname: String, lines: u32| {
        symbols.push(Symbol {
            kind,
            name: name.to_string(),
            qualname,
            line,
            end_line: line + lines,
        });
        line += lines + 2;
    };
    for (c, methods) in [(0usize, 8usize), (1, 6)] {
        let class = format!(
            "{}{}",
            CLASS_WORDS[(file + c) % CLASS_WORDS.len()],
            CLASS_SUFFIXES[(file / 3 + c) % CLASS_SUFFIXES.len()]
        );
        push(SymbolKind::Class, &class, class.clone(), 1);
        for m in 0..methods {
            let name = METHOD_NAMES[(file + 3 * c + m) % METHOD_NAMES.len()];
            push(
                SymbolKind::Method,
                name,
                format!("{class}.{name}"),
                6 + (m as u32 % 9),
            );
        }
    }
    for f in 0..4 {
        let name = FUNCTION_NAMES[(file + f) % FUNCTION_NAMES.len()];
        push(SymbolKind::Function, name, name.to_string(), 12);
    }
    SymbolTable {
        symbols,
        parse_errors: 0,
    }
}

/// Python-like source for a table (only hashed into the key and measured for `size`).
fn render_source(file: usize, revision: u64, table: &SymbolTable) -> String {
    let mut text = format!("\"\"\"Module {file}, revision {revision}.\"\"\"\nimport os\n\n");
    for symbol in &table.symbols {
        let (indent, keyword) = match symbol.kind {
            SymbolKind::Class => ("", "class"),
            SymbolKind::Method => ("    ", "def"),
            SymbolKind::Function => ("", "def"),
        };
        let params = if symbol.kind == SymbolKind::Class {
            ":"
        } else {
            "(self, value=None):"
        };
        text.push_str(&format!("{indent}{keyword} {}{params}\n", symbol.name));
        for body in 0..symbol.end_line - symbol.line {
            text.push_str(&format!(
                "{indent}    value = os.path.join(str(value), '{body}')\n"
            ));
        }
        text.push('\n');
    }
    text
}

fn file_case(file: usize, revision: u64) -> FileCase {
    let table = make_table(file, revision);
    let source = render_source(file, revision, &table);
    FileCase {
        key: CacheKey::new(&file_rel(file), source.as_bytes()),
        meta: SourceMeta {
            mtime_ns: BASE_MTIME_NS + revision as i64,
            size: source.len() as u64,
        },
        table,
    }
}

// ---------------------------------------------------------------------------------------------
// Stacks
// ---------------------------------------------------------------------------------------------

fn open_telemetry(dir: &Path, segment: &Segment, run_id: &str) -> Telemetry {
    let config = TelemetryConfig {
        level: Level::Lite,
        dir: dir.to_path_buf(),
        run_id: run_id.to_string(),
        segment_id: segment.id.clone(),
        max_bytes: DEFAULT_MAX_BYTES,
    };
    Telemetry::open(&config).expect("open telemetry")
}

fn persistent_stack(segment: &Segment, telemetry: Telemetry) -> CacheStack {
    let mut config = CacheConfig::new(segment.clone(), telemetry);
    config.persist = Some(true);
    let stack = build_cache(config).expect("build the persistent cache stack");
    assert!(
        stack.persistent,
        "build_cache(persist = true) must give SQLite"
    );
    stack
}

/// `SqliteCache` behind an `Arc`, so the bench can read `busy_retries` while the stack owns it.
struct SharedSqlite(Arc<SqliteCache>);

impl AstCache for SharedSqlite {
    fn backend(&self) -> &'static str {
        self.0.backend()
    }
    fn get(&self, key: &CacheKey, source: &SourceMeta) -> Result<Lookup, CacheError> {
        self.0.get(key, source)
    }
    fn put(
        &self,
        key: &CacheKey,
        source: &SourceMeta,
        value: &SymbolTable,
    ) -> Result<PutOutcome, CacheError> {
        self.0.put(key, source, value)
    }
    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        self.0.delete(key)
    }
    fn clear(&self) -> Result<u64, CacheError> {
        self.0.clear()
    }
    fn stats(&self) -> Result<CacheStats, CacheError> {
        self.0.stats()
    }
    fn check(&self, full: bool) -> Result<CheckReport, CacheError> {
        self.0.check(full)
    }
    fn gc(&self) -> Result<GcReport, CacheError> {
        self.0.gc()
    }
    fn maintain(&self, task: &Maintenance) -> Result<Option<String>, CacheError> {
        self.0.maintain(task)
    }
}

/// A bare `SqliteCache` on the segment's database, migrated (a brand-new file answers
/// `NeedsMigration` until then; on an existing current file this is a no-op).
fn bare_sqlite(segment: &Segment) -> Arc<SqliteCache> {
    let cache = SqliteCache::new(
        segment.db_path(),
        SqliteConfig::default(),
        Telemetry::disabled(),
    );
    cache
        .maintain(&Maintenance::Migrate)
        .expect("migrate the cache database");
    Arc::new(cache)
}

fn locked(inner: Box<dyn AstCache>, segment: &Segment, telemetry: Telemetry) -> LockedCache {
    LockedCache::new(
        inner,
        CacheLock::new(segment.lock_path()),
        LockConfig::default(),
        telemetry,
    )
}

// ---------------------------------------------------------------------------------------------
// Single-process measurements
// ---------------------------------------------------------------------------------------------

/// Variants are measured round-robin in this many chunks, so drift (WAL growth, checkpoints,
/// other load on the machine) hits every variant alike and the layer deltas stay fair.
const ROUNDS: usize = 10;

/// One way of answering a hit; returns whether it was a hit.
type HitFn<'a> = Box<dyn FnMut(&FileCase) -> bool + 'a>;

struct HitVariant<'a> {
    name: &'static str,
    target: Target,
    op: HitFn<'a>,
    hist: Histogram<u64>,
    not_hits: u64,
}

impl<'a> HitVariant<'a> {
    fn new(name: &'static str, target: Target, op: HitFn<'a>) -> Self {
        HitVariant {
            name,
            target,
            op,
            hist: new_hist(),
            not_hits: 0,
        }
    }

    fn cache(name: &'static str, target: Target, cache: &'a dyn AstCache) -> Self {
        HitVariant::new(
            name,
            target,
            Box::new(move |case| match cache.get(&case.key, &case.meta) {
                Ok(Lookup::Hit(table)) => {
                    black_box(table);
                    true
                }
                _ => false,
            }),
        )
    }
}

/// `n` random hits per variant over `cases`, interleaved in [`ROUNDS`] chunks.
fn run_hit_variants(variants: &mut [HitVariant<'_>], cases: &[FileCase], n: usize, seed: u64) {
    let chunk = (n / ROUNDS).max(1);
    let warmup = (chunk / 20).clamp(50, 500);
    for round in 0..ROUNDS {
        for (v, variant) in variants.iter_mut().enumerate() {
            let mut rng = Rng::new(seed + (round * 100 + v) as u64);
            let mut not_hits = 0u64;
            let op = &mut variant.op;
            let hist = measure(
                chunk,
                warmup,
                |_| &cases[rng.below(cases.len())],
                |case| {
                    if !op(case) {
                        not_hits += 1;
                    }
                },
            );
            variant.hist.add(&hist).expect("merge histograms");
            variant.not_hits += not_hits;
        }
    }
}

/// Puts with a fresh revision each time (new content, new key, replaces the file's old entry),
/// interleaved in [`ROUNDS`] chunks. Returns errors and `Busy` errors per variant.
fn run_put_variants(
    variants: &[(&'static str, Target, &dyn AstCache)],
    files: usize,
    n: usize,
) -> Vec<(Histogram<u64>, u64, u64)> {
    let mut results: Vec<(Histogram<u64>, u64, u64)> =
        variants.iter().map(|_| (new_hist(), 0, 0)).collect();
    let chunk = (n / ROUNDS).max(1);
    let warmup = (chunk / 20).clamp(10, 100);
    let mut revision = 1_000_000u64;
    let mut rng = Rng::new(7);
    for _ in 0..ROUNDS {
        for ((_, _, cache), result) in variants.iter().zip(results.iter_mut()) {
            let (mut errors, mut busy) = (0u64, 0u64);
            let hist = measure(
                chunk,
                warmup,
                |_| {
                    revision += 1;
                    file_case(rng.below(files), revision)
                },
                |case| match cache.put(&case.key, &case.meta, &case.table) {
                    Ok(outcome) if outcome.written => {}
                    Ok(_) => errors += 1,
                    Err(err) => {
                        errors += 1;
                        if matches!(err, CacheError::Busy) {
                            busy += 1;
                        }
                    }
                },
            );
            result.0.add(&hist).expect("merge histograms");
            result.1 += errors;
            result.2 += busy;
        }
    }
    results
}

/// Share of the recorded operations slower than `ns`.
fn share_above(hist: &Histogram<u64>, ns: u64) -> f64 {
    let above = hist.len() - hist.count_between(0, ns);
    100.0 * above as f64 / hist.len().max(1) as f64
}

const RAW_SELECT: &str =
    "SELECT src_mtime_ns, src_size, value, checksum, accessed_s FROM entries WHERE key = ?1";

type RawRow = (i64, i64, Vec<u8>, i64, i64);

fn raw_select(conn: &Connection, key: &CacheKey) -> Option<RawRow> {
    let mut stmt = conn.prepare_cached(RAW_SELECT).expect("prepare");
    stmt.query_row([key.as_str()], |row| {
        Ok((
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
        ))
    })
    .optional()
    .expect("select")
}

fn bench_hits_and_layers(report: &mut Report, params: &Params, segment: &Segment, tel_dir: &Path) {
    eprintln!(
        "[1] full stack hit, layers, [5] raw SQLite ({} keys, {} gets per variant)",
        params.files, params.hit_ops
    );
    let cases: Vec<FileCase> = (0..params.files).map(|f| file_case(f, 0)).collect();
    let telemetry = open_telemetry(tel_dir, segment, "bench-cache");
    let stack = persistent_stack(segment, telemetry);
    for case in &cases {
        stack
            .cache
            .put(&case.key, &case.meta, &case.table)
            .expect("pre-populate");
    }
    let off = persistent_stack(segment, Telemetry::disabled());
    let locked_only = locked(
        Box::new(SharedSqlite(bare_sqlite(segment))),
        segment,
        Telemetry::disabled(),
    );
    let bare = bare_sqlite(segment);
    // Raw rusqlite on the same file, with the statement the backend uses.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(segment.db_path(), flags).expect("open the database");
    let mut bad_checksums = 0u64;
    let mut variants = vec![
        HitVariant::cache(
            "hit: full stack, telemetry ON",
            Target::p50_p99(10.0, 50.0),
            stack.cache.as_ref(),
        ),
        HitVariant::cache(
            "hit: full stack, telemetry off",
            Target::default(),
            off.cache.as_ref(),
        ),
        HitVariant::cache(
            "hit: LockedCache(SqliteCache)",
            Target::default(),
            &locked_only,
        ),
        HitVariant::cache("hit: bare SqliteCache", Target::default(), bare.as_ref()),
        HitVariant::new(
            "raw sqlite: point SELECT",
            Target::default(),
            Box::new(|case: &FileCase| black_box(raw_select(&conn, &case.key)).is_some()),
        ),
        HitVariant::new(
            "raw sqlite: SELECT + checksum + decode",
            Target::default(),
            Box::new(|case: &FileCase| {
                let Some((_, _, value, checksum, _)) = raw_select(&conn, &case.key) else {
                    return false;
                };
                if value_checksum(&value) != checksum {
                    bad_checksums += 1;
                }
                let table: SymbolTable = postcard::from_bytes(&value).expect("decode");
                black_box(Arc::new(table));
                true
            }),
        ),
    ];
    run_hit_variants(&mut variants, &cases, params.hit_ops, 1);
    for variant in variants {
        if variant.not_hits > 0 {
            report.note(format!(
                "{}: {} lookups were not hits",
                variant.name, variant.not_hits
            ));
        }
        if variant.name.starts_with("hit: full stack, telemetry ON") {
            report.note(format!(
                "full stack hit: {:.3}% of hits took > 100 us (batched counter flush = a write \
                 transaction every 1024 lookups or 1 s, WAL checkpoints, preemption)",
                share_above(&variant.hist, 100_000)
            ));
        }
        report.add(variant.name, variant.hist, variant.target);
    }
    if bad_checksums > 0 {
        report.note(format!(
            "raw sqlite: {bad_checksums} checksum mismatches (bench mirrors the wrong hash?)"
        ));
    }
    component_costs(report, segment, &cases, params.hit_ops);
    drop((stack, off, locked_only, bare));
}

/// Same 64-bit BLAKE3 checksum as the SQLite backend.
fn value_checksum(encoded: &[u8]) -> i64 {
    let hash = blake3::hash(encoded);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    i64::from_le_bytes(first)
}

/// Individual costs a hit pays inside the layers.
fn component_costs(report: &mut Report, segment: &Segment, cases: &[FileCase], n: usize) {
    let warmup = 1_000;
    let hist = measure(n, warmup, |_| (), |()| black_box(()));
    report.add("  part: timer overhead (empty op)", hist, Target::default());

    let db = segment.db_path();
    let hist = measure(
        n,
        warmup,
        |_| (),
        |()| {
            black_box(std::fs::metadata(&db).ok());
        },
    );
    report.add(
        "  part: stat(db) (pool identity check)",
        hist,
        Target::default(),
    );

    let lock = CacheLock::new(segment.lock_path());
    let hist = measure(
        n,
        warmup,
        |_| (),
        |()| {
            let guard = lock
                .acquire(LockMode::Shared, Duration::from_secs(2))
                .expect("lock");
            drop(black_box(guard));
        },
    );
    report.add(
        "  part: flock shared acquire+release",
        hist,
        Target::default(),
    );

    let encoded = postcard::to_allocvec(&cases[0].table).expect("encode");
    report.note(format!(
        "a 20-symbol table encodes to {} bytes (postcard)",
        encoded.len()
    ));
    let hist = measure(
        n,
        warmup,
        |_| (),
        |()| {
            black_box(value_checksum(black_box(&encoded)));
        },
    );
    report.add("  part: blake3 checksum of value", hist, Target::default());
    let hist = measure(
        n,
        warmup,
        |_| (),
        |()| {
            let table: SymbolTable = postcard::from_bytes(black_box(&encoded)).expect("decode");
            black_box(table);
        },
    );
    report.add(
        "  part: postcard decode (20 symbols)",
        hist,
        Target::default(),
    );
}

fn bench_puts(report: &mut Report, params: &Params, segment: &Segment, tel_dir: &Path) {
    eprintln!(
        "[2] full stack put ({} puts per variant, interleaved)",
        params.put_ops
    );
    let n = params.put_ops;
    let telemetry = open_telemetry(tel_dir, segment, "bench-cache-put");
    let stack = persistent_stack(segment, telemetry);
    let off = persistent_stack(segment, Telemetry::disabled());
    let bare = bare_sqlite(segment);
    let variants: [(&'static str, Target, &dyn AstCache); 3] = [
        (
            "put: full stack, telemetry ON",
            Target::p50(100.0),
            stack.cache.as_ref(),
        ),
        (
            "put: full stack, telemetry off",
            Target::default(),
            off.cache.as_ref(),
        ),
        ("put: bare SqliteCache", Target::default(), bare.as_ref()),
    ];
    let results = run_put_variants(&variants, params.files, n);
    for ((name, target, _), (hist, errors, busy)) in variants.iter().zip(results) {
        report.note(format!(
            "{name}: {errors} errors ({busy} Busy); {:.2}% of puts > 1 ms",
            share_above(&hist, 1_000_000)
        ));
        report.add(name, hist, *target);
    }
    drop((stack, off));
    let busy_retries = bare.busy_retries();
    drop(bare);
    let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len() / 1024);
    report.note(format!(
        "after the puts: db {} KiB, wal {} KiB; busy-handler retries (bare cache): {busy_retries}",
        size(segment.db_path()),
        size(PathBuf::from(format!(
            "{}-wal",
            segment.db_path().display()
        )))
    ));
}

fn bench_memory(report: &mut Report, params: &Params, tel_dir: &Path, segment: &Segment) {
    eprintln!("[3] MemoryCache get ({} gets)", params.mem_ops);
    let cases: Vec<FileCase> = (0..params.files).map(|f| file_case(f, 0)).collect();
    let filled = || {
        let memory = MemoryCache::new(MemoryLimits::default()).expect("memory cache");
        for case in &cases {
            memory.put(&case.key, &case.meta, &case.table).expect("put");
        }
        memory
    };
    let memory = filled();
    let mut variants = [HitVariant::cache(
        "hit: bare MemoryCache",
        Target::p50(1.0),
        &memory,
    )];
    run_hit_variants(&mut variants, &cases, params.mem_ops, 10);

    let telemetry = open_telemetry(tel_dir, segment, "bench-cache-memory");
    let instrumented = InstrumentedCache::new(Box::new(filled()), telemetry);
    let mut with_telemetry = [HitVariant::cache(
        "hit: InstrumentedCache(Memory), tel ON",
        Target::default(),
        &instrumented,
    )];
    run_hit_variants(&mut with_telemetry, &cases, params.hit_ops, 11);
    for variant in variants.into_iter().chain(with_telemetry) {
        if variant.not_hits > 0 {
            report.note(format!(
                "{}: {} lookups were not hits",
                variant.name, variant.not_hits
            ));
        }
        report.add(variant.name, variant.hist, variant.target);
    }
}

fn bench_telemetry(report: &mut Report, params: &Params, tel_dir: &Path, segment: &Segment) {
    eprintln!("[4] telemetry append ({} events)", params.emit_ops);
    let n = params.emit_ops;
    let warmup = 1_000;
    let telemetry = open_telemetry(tel_dir, segment, "bench-cache-emit");
    let key = file_case(1, 0).key;
    let build = || {
        let mut event = Event::new("ast.cache.hit", Duration::from_micros(7));
        event
            .arg("cache_key", key.as_str())
            .result("backend", "SqliteCache")
            .result("segment_id", segment.id.as_str());
        event
    };
    let event = build();
    let hist = measure(n, warmup, |_| event.clone(), |e| telemetry.emit(e));
    report.add("telemetry: emit(prebuilt event)", hist, Target::p50(5.0));

    let hist = measure(
        n,
        warmup,
        |_| (),
        |()| {
            telemetry.emit_timed("ast.cache.hit", Duration::from_micros(7), |e| {
                e.arg("cache_key", key.as_str())
                    .result("backend", "SqliteCache")
                    .result("segment_id", segment.id.as_str());
            })
        },
    );
    report.add(
        "telemetry: emit_timed (build + emit)",
        hist,
        Target::default(),
    );

    let hist = measure(
        n,
        warmup,
        |_| (),
        |()| {
            black_box(build());
        },
    );
    report.add(
        "  part: build Event (serde_json Maps)",
        hist,
        Target::default(),
    );

    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let hist = measure(
        n,
        warmup,
        |_| (),
        |()| {
            black_box(
                time::OffsetDateTime::now_utc()
                    .format(&format)
                    .unwrap_or_default(),
            );
        },
    );
    report.add("  part: RFC 3339 timestamp", hist, Target::default());

    let ts = time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default();
    let line = EventLine {
        ts: ts.clone(),
        run_id: "bench-cache-emit",
        segment_id: &segment.id,
        pid: std::process::id(),
        event: &event,
        with_extras: false,
    };
    let hist = measure(
        n,
        warmup,
        |_| (),
        |()| {
            let mut bytes = serde_json::to_vec(black_box(&line)).expect("serialize");
            bytes.push(b'\n');
            black_box(bytes);
        },
    );
    report.add(
        "  part: serde_json::to_vec(EventLine)",
        hist,
        Target::default(),
    );

    let mut bytes = serde_json::to_vec(&line).expect("serialize");
    bytes.push(b'\n');
    report.note(format!(
        "a typical ast.cache.hit line is {} bytes",
        bytes.len()
    ));
    let sink_dir = tel_dir.join("raw-sink");
    let mut sink = JsonlSink::open(&sink_dir, DEFAULT_MAX_BYTES).expect("open sink");
    let hist = measure(n, warmup, |_| (), |()| sink.append(&bytes).expect("append"));
    report.add(
        "  part: JsonlSink::append (write+lseek)",
        hist,
        Target::default(),
    );
}

// ---------------------------------------------------------------------------------------------
// Multi-process throughput
// ---------------------------------------------------------------------------------------------

fn bench_multi_process(report: &mut Report, params: &Params, root: &Path) {
    eprintln!(
        "[6] multi-process: {} processes x {:.1} s, 80/20 get/put over {} files",
        params.mp_procs,
        params.mp_duration.as_secs_f64(),
        params.mp_files
    );
    let seg_dir = root.join("mp-segment");
    std::fs::create_dir_all(&seg_dir).expect("create the segment directory");
    let segment = Segment::open(&seg_dir).expect("open segment");
    let tel_dir = root.join("mp-telemetry");
    {
        // Pre-populate variant 0 of every file, so the children start warm and never migrate.
        let stack = persistent_stack(
            &segment,
            open_telemetry(&tel_dir, &segment, "bench-mp-setup"),
        );
        for file in 0..params.mp_files {
            let case = file_case(file, 0);
            stack
                .cache
                .put(&case.key, &case.meta, &case.table)
                .expect("pre-populate");
        }
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut children: Vec<(Child, BufReader<ChildStdout>)> = Vec::new();
    for worker in 0..params.mp_procs {
        let mut child = Command::new(&exe)
            .env(ENV_CHILD, worker.to_string())
            .env(ENV_CHILD_SEGMENT, &seg_dir)
            .env(ENV_CHILD_TELEMETRY, &tel_dir)
            .env(ENV_CHILD_FILES, params.mp_files.to_string())
            .env(ENV_CHILD_MILLIS, params.mp_duration.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn a child bench process");
        let stdout = BufReader::new(child.stdout.take().expect("child stdout"));
        children.push((child, stdout));
    }
    // Barrier: every child is set up before any starts.
    for (child, stdout) in &mut children {
        let line = read_line(stdout);
        if line.trim() != "ready" {
            let _ = child.kill();
            panic!("child did not get ready: {line:?}");
        }
    }
    let started = Instant::now();
    for (child, _) in &mut children {
        let stdin = child.stdin.as_mut().expect("child stdin");
        stdin
            .write_all(b"go\n")
            .and_then(|()| stdin.flush())
            .expect("start child");
    }
    let mut results = Vec::new();
    for (child, stdout) in &mut children {
        let line = read_line(stdout);
        let status = child.wait().expect("wait for child");
        let value: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("child printed no JSON ({e}, status {status}): {line:?}"));
        results.push(value);
    }
    let wall = started.elapsed();
    summarize_multi_process(report, params, &results, wall);
}

fn read_line(reader: &mut impl BufRead) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read from child");
    line
}

fn summarize_multi_process(
    report: &mut Report,
    params: &Params,
    results: &[Value],
    wall: Duration,
) {
    let sum = |field: &str| {
        results
            .iter()
            .map(|r| r[field].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let max_f = |field: &str| {
        results
            .iter()
            .map(|r| r[field].as_f64().unwrap_or(0.0))
            .fold(0.0, f64::max)
    };
    let ops = sum("ops");
    let window = max_f("elapsed_s");
    let ops_per_s = ops as f64 / window.max(1e-9);
    let errors = sum("errors");
    let busy = sum("busy");
    let gets = sum("gets");
    let hits = sum("hits");
    let ok = |met: bool| if met { "ok" } else { "MISSED" };
    report.throughput.push(format!(
        "{} processes, {:.2} s window ({:.2} s wall incl. exit): {ops} ops = {ops_per_s:.0} ops/s \
         (target >= 20000): {}",
        params.mp_procs,
        window,
        wall.as_secs_f64(),
        ok(ops_per_s >= 20_000.0)
    ));
    report.throughput.push(format!(
        "errors reaching the caller: {errors}, of which CacheError::Busy: {busy} (target 0): {}",
        ok(errors == 0)
    ));
    report.throughput.push(format!(
        "gets {gets} (hit rate {:.1}%), puts {}, lock-timeout degrades {}, SQLite busy-handler \
         retries {}, lock waits >= 1 ms {} (max {:.0} us; exclusive acquisitions: {})",
        100.0 * hits as f64 / gets.max(1) as f64,
        sum("puts"),
        sum("lock_timeouts"),
        sum("busy_retries"),
        sum("lock_waits_1ms"),
        max_f("max_lock_wait_us"),
        sum("exclusive_locks"),
    ));
    let time_in = |field: &str| {
        results
            .iter()
            .map(|r| r[field].as_f64().unwrap_or(0.0))
            .sum::<f64>()
    };
    let proc_s = results
        .iter()
        .map(|r| r["elapsed_s"].as_f64().unwrap_or(0.0))
        .sum::<f64>();
    report.throughput.push(format!(
        "process time inside the cache: gets {:.0}%, puts {:.0}% (puts are {:.0}% of the ops)",
        100.0 * time_in("get_time_s") / proc_s.max(1e-9),
        100.0 * time_in("put_time_s") / proc_s.max(1e-9),
        100.0 * sum("puts") as f64 / ops.max(1) as f64,
    ));
    let cpu = results
        .iter()
        .map(|r| r["cpu_s"].as_f64().unwrap_or(0.0))
        .sum::<f64>();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    report.throughput.push(format!(
        "CPU: {cpu:.2} s user+sys in the children = {:.1} us CPU per op; {:.0}% of {cpus} CPUs \
         over the window (the rest is waiting: sleeps in the busy handler / lock poll, I/O, \
         other load)",
        cpu * 1e6 / ops.max(1) as f64,
        100.0 * cpu / (window.max(1e-9) * cpus as f64),
    ));
    for r in results {
        report.throughput.push(format!(
            "  worker {}: {} ops in {:.2} s ({:.0} ops/s), cpu {:.2} s, errors {}, busy retries {}",
            r["worker"],
            r["ops"],
            r["elapsed_s"].as_f64().unwrap_or(0.0),
            r["ops"].as_f64().unwrap_or(0.0) / r["elapsed_s"].as_f64().unwrap_or(1.0).max(1e-9),
            r["cpu_s"].as_f64().unwrap_or(0.0),
            r["errors"],
            r["busy_retries"]
        ));
        if let Some(samples) = r["error_samples"].as_array().filter(|s| !s.is_empty()) {
            report
                .throughput
                .push(format!("    first errors: {samples:?}"));
        }
    }
    for (field, name) in [
        (
            "get_hist",
            format!("mp get ({} procs, shared segment)", params.mp_procs),
        ),
        (
            "put_hist",
            format!("mp put ({} procs, shared segment)", params.mp_procs),
        ),
    ] {
        let mut hist = new_hist();
        for r in results {
            for pair in r[field].as_array().into_iter().flatten() {
                let value = pair[0].as_u64().unwrap_or(0).clamp(1, HIST_MAX_NS);
                let count = pair[1].as_u64().unwrap_or(0);
                hist.record_n(value, count).expect("merge histogram");
            }
        }
        report.add(&name, hist, Target::default());
    }
}

/// User plus system CPU time of this process, in seconds.
fn process_cpu_s() -> f64 {
    // SAFETY: `getrusage` only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0.0;
        }
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn env_usize(name: &str) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} must be set to a number"))
}

fn hist_pairs(hist: &Histogram<u64>) -> Value {
    hist.iter_recorded()
        .map(|v| json!([v.value_iterated_to(), v.count_at_value()]))
        .collect()
}

/// One child of the multi-process run: the same stack as `build_cache` builds
/// (InstrumentedCache -> LockedCache -> SqliteCache, telemetry on), with the `SqliteCache` behind
/// an `Arc` so its busy-handler retry counter can be reported.
fn child_main(worker: usize) {
    let seg_dir = PathBuf::from(std::env::var_os(ENV_CHILD_SEGMENT).expect("segment dir"));
    let tel_dir = PathBuf::from(std::env::var_os(ENV_CHILD_TELEMETRY).expect("telemetry dir"));
    let files = env_usize(ENV_CHILD_FILES);
    let duration = Duration::from_millis(env_usize(ENV_CHILD_MILLIS) as u64);
    let segment = Segment::open(&seg_dir).expect("open segment");
    let telemetry = open_telemetry(&tel_dir, &segment, &format!("bench-mp-{worker}"));
    let sqlite = Arc::new(SqliteCache::new(
        segment.db_path(),
        SqliteConfig::default(),
        telemetry.clone(),
    ));
    let waits_1ms = Arc::new(AtomicU64::new(0));
    let max_wait_ns = Arc::new(AtomicU64::new(0));
    let exclusive = Arc::new(AtomicU64::new(0));
    let observer = {
        let (waits_1ms, max_wait_ns) = (waits_1ms.clone(), max_wait_ns.clone());
        let exclusive = exclusive.clone();
        Arc::new(move |mode: LockMode, waited: Duration| {
            if mode == LockMode::Exclusive {
                exclusive.fetch_add(1, Ordering::Relaxed);
            }
            if waited >= Duration::from_millis(1) {
                waits_1ms.fetch_add(1, Ordering::Relaxed);
            }
            let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
            max_wait_ns.fetch_max(ns, Ordering::Relaxed);
        })
    };
    let lock_layer = locked(
        Box::new(SharedSqlite(sqlite.clone())),
        &segment,
        telemetry.clone(),
    )
    .with_wait_observer(observer);
    let cache = InstrumentedCache::new(Box::new(lock_layer), telemetry);

    let cases: Vec<Vec<FileCase>> = (0..files)
        .map(|f| (0..MP_VARIANTS as u64).map(|v| file_case(f, v)).collect())
        .collect();
    let mut last = vec![0usize; files];
    let mut rng = Rng::new(
        0x9E37_79B9_7F4A_7C15 ^ ((worker as u64 + 1) * 7919) ^ u64::from(std::process::id()),
    );
    let (mut get_hist, mut put_hist) = (new_hist(), new_hist());
    let (mut gets, mut puts, mut hits, mut misses) = (0u64, 0u64, 0u64, 0u64);
    let (mut errors, mut busy, mut lock_timeouts) = (0u64, 0u64, 0u64);
    let mut error_samples: Vec<String> = Vec::new();
    let mut record_error = |err: CacheError, errors: &mut u64, busy: &mut u64| {
        *errors += 1;
        if matches!(err, CacheError::Busy) {
            *busy += 1;
        }
        if error_samples.len() < 3 {
            error_samples.push(err.to_string());
        }
    };

    println!("ready");
    std::io::stdout().flush().expect("flush stdout");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("wait for go");

    let cpu_before = process_cpu_s();
    let started = Instant::now();
    while started.elapsed() < duration {
        let file = rng.below(files);
        if rng.below(10) < 8 {
            let case = &cases[file][last[file]];
            let t = Instant::now();
            let result = cache.get(&case.key, &case.meta);
            get_hist.saturating_record(elapsed_ns(t));
            gets += 1;
            match result {
                Ok(Lookup::Hit(table)) => {
                    hits += 1;
                    black_box(table);
                }
                Ok(Lookup::Miss(MissReason::LockTimeout)) => lock_timeouts += 1,
                Ok(Lookup::Miss(_)) => misses += 1,
                Err(err) => record_error(err, &mut errors, &mut busy),
            }
        } else {
            let variant = (last[file] + 1) % MP_VARIANTS;
            let case = &cases[file][variant];
            let t = Instant::now();
            let result = cache.put(&case.key, &case.meta, &case.table);
            put_hist.saturating_record(elapsed_ns(t));
            puts += 1;
            match result {
                Ok(outcome) if outcome.skipped.is_some() => lock_timeouts += 1,
                Ok(_) => last[file] = variant,
                Err(err) => record_error(err, &mut errors, &mut busy),
            }
        }
    }
    let elapsed = started.elapsed();
    let cpu_s = process_cpu_s() - cpu_before;
    let busy_retries = sqlite.busy_retries();
    drop(cache);
    let line = json!({
        "worker": worker,
        "ops": gets + puts,
        "gets": gets,
        "puts": puts,
        "hits": hits,
        "misses": misses,
        "errors": errors,
        "busy": busy,
        "lock_timeouts": lock_timeouts,
        "busy_retries": busy_retries,
        "lock_waits_1ms": waits_1ms.load(Ordering::Relaxed),
        "exclusive_locks": exclusive.load(Ordering::Relaxed),
        "get_time_s": get_hist.mean() * get_hist.len() as f64 / 1e9,
        "put_time_s": put_hist.mean() * put_hist.len() as f64 / 1e9,
        "max_lock_wait_us": max_wait_ns.load(Ordering::Relaxed) as f64 / 1000.0,
        "elapsed_s": elapsed.as_secs_f64(),
        "cpu_s": cpu_s,
        "error_samples": error_samples,
        "get_hist": hist_pairs(&get_hist),
        "put_hist": hist_pairs(&put_hist),
    });
    println!("{line}");
}

// ---------------------------------------------------------------------------------------------

fn main() {
    if let Ok(worker) = std::env::var(ENV_CHILD) {
        child_main(worker.parse().expect("worker index"));
        return;
    }
    let (params, quick) = Params::from_env();
    let started = Instant::now();
    println!(
        "cache bench{}: {} keys, {} hits, {} puts per variant, {} memory gets, {} emits, \
         {} processes x {:.1} s",
        if quick { " (QUICK)" } else { "" },
        params.files,
        params.hit_ops,
        params.put_ops,
        params.mem_ops,
        params.emit_ops,
        params.mp_procs,
        params.mp_duration.as_secs_f64()
    );
    let root = tempfile::tempdir().expect("temporary directory");
    let seg_dir = root.path().join("segment");
    std::fs::create_dir_all(&seg_dir).expect("create the segment directory");
    let segment = Segment::open(&seg_dir).expect("open segment");
    let tel_dir = root.path().join("telemetry");

    let mut report = Report::default();
    bench_hits_and_layers(&mut report, &params, &segment, &tel_dir);
    bench_puts(&mut report, &params, &segment, &tel_dir);
    bench_memory(&mut report, &params, &tel_dir, &segment);
    bench_telemetry(&mut report, &params, &tel_dir, &segment);
    bench_multi_process(&mut report, &params, root.path());
    report.print();
    println!();
    println!("total bench time: {:.1} s", started.elapsed().as_secs_f64());
}
