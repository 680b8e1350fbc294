//! Single-threaded throughput of `trifecta::symbols::extract`.
//!
//! Reads every `.py` file of a corpus into memory (the CPython stdlib, or the
//! directory in `TRIFECTA_BENCH_CORPUS`), extracts them all in several passes
//! and prints the best pass in MB/s, then times the largest file alone.
//!
//! Run with `cargo bench --bench extract`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use trifecta::symbols::extract;

const PASSES: usize = 3;
const CORPUS_ENV: &str = "TRIFECTA_BENCH_CORPUS";

struct SourceFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

fn main() {
    let Some(dir) = corpus_dir().filter(|dir| dir.is_dir()) else {
        println!("extract bench: no corpus directory (set {CORPUS_ENV}); nothing to measure");
        return;
    };
    let files = read_corpus(&dir);
    let total_bytes: usize = files.iter().map(|file| file.bytes.len()).sum();
    println!("corpus: {}", dir.display());
    println!("files: {}, {:.1} MB", files.len(), megabytes(total_bytes));
    if files.is_empty() {
        return;
    }
    let mut best = Duration::MAX;
    let mut symbols = 0;
    for pass in 1..=PASSES {
        let (elapsed, count) = extract_all(&files);
        println!(
            "pass {pass}: {:.2} s, {:.2} MB/s",
            elapsed.as_secs_f64(),
            throughput(total_bytes, elapsed)
        );
        best = best.min(elapsed);
        symbols = count;
    }
    println!("best pass: {:.2} MB/s", throughput(total_bytes, best));
    println!("symbols: {symbols}");
    time_largest(&files);
}

/// `TRIFECTA_BENCH_CORPUS`, else the stdlib directory python3 reports.
fn corpus_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CORPUS_ENV) {
        return Some(PathBuf::from(dir));
    }
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

/// All readable `.py` files under `dir`, without following symlinks.
fn read_corpus(dir: &Path) -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(path),
                Ok(kind) if kind.is_file() && path.extension().is_some_and(|ext| ext == "py") => {
                    if let Ok(bytes) = std::fs::read(&path) {
                        files.push(SourceFile { path, bytes });
                    }
                }
                _ => {}
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// One pass over every file: elapsed time and total symbol count.
fn extract_all(files: &[SourceFile]) -> (Duration, usize) {
    let start = Instant::now();
    let symbols = files
        .iter()
        .map(|file| black_box(extract(black_box(&file.bytes))).symbols.len())
        .sum();
    (start.elapsed(), symbols)
}

fn time_largest(files: &[SourceFile]) {
    let Some(largest) = files.iter().max_by_key(|file| file.bytes.len()) else {
        return;
    };
    let start = Instant::now();
    let table = black_box(extract(black_box(&largest.bytes)));
    let elapsed = start.elapsed();
    println!(
        "largest file: {} ({:.2} MB): {:.1} ms, {} symbols, {} parse errors",
        largest.path.display(),
        megabytes(largest.bytes.len()),
        elapsed.as_secs_f64() * 1e3,
        table.symbols.len(),
        table.parse_errors
    );
}

fn megabytes(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

fn throughput(bytes: usize, elapsed: Duration) -> f64 {
    megabytes(bytes) / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
}
