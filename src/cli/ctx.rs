//! `trifecta ctx search`.

use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

use super::SearchArgs;
use super::context::{open_analyzer, open_segment, open_telemetry};
use super::output::{CliError, fail, print_error_line, print_json, print_line};
use crate::search::{self, Query, SearchHit};

/// Runs the command: text (or `--json`) on stdout, exit 0 or 1.
pub fn run(args: &SearchArgs) -> ExitCode {
    let started = Instant::now();
    let mut warnings = Vec::new();
    let Some(raw_query) = args.query.to_str() else {
        let err = CliError::new("INVALID_QUERY", "the query is not valid UTF-8");
        return fail(&err, args.json);
    };
    let query = match Query::parse(raw_query) {
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
    let outcome = search::search_segment(&analyzer, &query, args.limit as usize);
    if outcome.truncated {
        warnings.push(format!(
            "only the first {} files were searched",
            search::MAX_FILES
        ));
    }
    let summary = json!({
        "files_scanned": outcome.files_scanned,
        "files_skipped": outcome.files_skipped,
        "cache_hits": outcome.cache_hits,
        "cache_misses": outcome.cache_misses,
        "matches": outcome.matches,
    });
    telemetry.emit_timed("ctx.search", started.elapsed(), |e| {
        e.arg("query_chars", raw_query.chars().count())
            .arg("limit", args.limit)
            .result("status", "ok")
            .result("results", outcome.results.len())
            .result("matches", outcome.matches)
            .result("cache_hits", outcome.cache_hits)
            .result("cache_misses", outcome.cache_misses);
    });
    if args.json {
        print_json(
            &json!({"status": "ok", "query": raw_query, "results": outcome.results, "summary": summary, "warnings": warnings}),
        );
    } else {
        print_text(&outcome.results, outcome.files_scanned, &warnings);
    }
    ExitCode::SUCCESS
}

fn print_text(ranked: &[SearchHit], files_scanned: usize, warnings: &[String]) {
    if ranked.is_empty() {
        print_line(&format!("no matches ({files_scanned} files searched)"));
    }
    for hit in ranked {
        let label = if hit.qualname.is_empty() {
            &hit.name
        } else {
            &hit.qualname
        };
        print_line(&format!(
            "{:>4}  {:<8} {}:{}  {}",
            hit.score, hit.kind, hit.file_rel, hit.line, label
        ));
    }
    for warning in warnings {
        print_error_line(&format!("warning: {warning}"));
    }
}
