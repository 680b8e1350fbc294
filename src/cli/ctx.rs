//! `trifecta ctx search`.

use rayon::prelude::*;
use serde_json::json;
use std::io::Read;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::SearchArgs;
use super::context::{open_analyzer, open_segment, open_telemetry};
use super::output::{CliError, fail, print_json};
use crate::analysis::{Analyzer, CacheStatus};
use crate::search::{self, Query, SearchHit};

/// Largest Markdown file read.
const MAX_MARKDOWN_BYTES: u64 = 4 * 1024 * 1024;

/// Counts of one search.
#[derive(Debug, Default)]
struct Tally {
    hits: AtomicU64,
    misses: AtomicU64,
    skipped: AtomicU64,
}

/// Runs the command: text (or `--json`) on stdout, exit 0 or 1.
pub fn run(args: &SearchArgs) -> ExitCode {
    let started = Instant::now();
    let mut warnings = Vec::new();
    let query = match Query::parse(&args.query) {
        Ok(query) => query,
        Err(err) => return fail(&CliError::new("INVALID_QUERY", err.to_string()), args.json),
    };
    let segment = match open_segment(&args.segment) {
        Ok(segment) => segment,
        Err(err) => return fail(&err, args.json),
    };
    let telemetry = open_telemetry(&segment, args.cache.telemetry, &mut warnings);
    let analyzer = match open_analyzer(&segment, args.cache.persist(), &telemetry, &mut warnings) {
        Ok(analyzer) => analyzer,
        Err(err) => return fail(&err, args.json),
    };
    let tally = Tally::default();
    let files = search::list_files(&segment.root);
    if files.truncated {
        warnings.push(format!("only the first {} files were searched", search::MAX_FILES));
    }
    let mut hits: Vec<SearchHit> = files
        .python
        .par_iter()
        .flat_map_iter(|path| python_hits(&analyzer, &query, path, &tally))
        .collect();
    hits.extend(
        files
            .markdown
            .par_iter()
            .flat_map_iter(|path| markdown_hits(&analyzer, &query, path, &tally))
            .collect::<Vec<_>>(),
    );
    let total = hits.len();
    let ranked = search::rank(hits, args.limit as usize);
    let summary = json!({
        "files_scanned": files.python.len() + files.markdown.len(),
        "files_skipped": tally.skipped.load(Ordering::Relaxed),
        "cache_hits": tally.hits.load(Ordering::Relaxed),
        "cache_misses": tally.misses.load(Ordering::Relaxed),
        "matches": total,
    });
    telemetry.emit_timed("ctx.search", started.elapsed(), |e| {
        e.arg("query_chars", args.query.chars().count())
            .arg("limit", args.limit)
            .result("status", "ok")
            .result("results", ranked.len())
            .result("matches", total)
            .result("cache_hits", summary["cache_hits"].clone())
            .result("cache_misses", summary["cache_misses"].clone());
    });
    if args.json {
        print_json(&json!({"status": "ok", "query": args.query, "results": ranked, "summary": summary, "warnings": warnings}));
    } else {
        print_text(&ranked, &summary, &warnings);
    }
    ExitCode::SUCCESS
}

fn python_hits(analyzer: &Analyzer, query: &Query, path: &std::path::Path, tally: &Tally) -> Vec<SearchHit> {
    match analyzer.symbols(path) {
        Ok(found) => {
            let counter = if found.status == CacheStatus::Hit { &tally.hits } else { &tally.misses };
            counter.fetch_add(1, Ordering::Relaxed);
            search::score_python(query, &found.file_rel, &found.table, &found.source)
        }
        Err(_) => {
            tally.skipped.fetch_add(1, Ordering::Relaxed);
            Vec::new()
        }
    }
}

fn markdown_hits(analyzer: &Analyzer, query: &Query, path: &std::path::Path, tally: &Tally) -> Vec<SearchHit> {
    let Some(file_rel) = analyzer.segment.relative(path) else {
        return Vec::new();
    };
    let mut text = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(MAX_MARKDOWN_BYTES).read_to_end(&mut text));
    if read.is_err() {
        tally.skipped.fetch_add(1, Ordering::Relaxed);
        return Vec::new();
    }
    search::score_markdown(query, &file_rel, &text)
}

fn print_text(ranked: &[SearchHit], summary: &serde_json::Value, warnings: &[String]) {
    if ranked.is_empty() {
        println!("no matches ({} files searched)", summary["files_scanned"]);
    }
    for hit in ranked {
        let label = if hit.qualname.is_empty() { &hit.name } else { &hit.qualname };
        println!("{:>4}  {:<8} {}:{}  {}", hit.score, hit.kind, hit.file_rel, hit.line, label);
    }
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}
