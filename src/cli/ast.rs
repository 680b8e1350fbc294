//! `trifecta ast symbols`.

use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

use super::SymbolsArgs;
use super::context::{open_analyzer, open_segment, open_telemetry};
use super::output::{CliError, fail, print_json};
use crate::analysis::{AnalyzeError, FileSymbols};
use crate::symbols::Symbol;
use crate::telemetry::Telemetry;
use crate::uri::{SymbolUri, UriError};

/// Runs the command: JSON on stdout, exit 0 or 1.
pub fn run(args: &SymbolsArgs) -> ExitCode {
    let started = Instant::now();
    let mut warnings = Vec::new();
    let segment = match open_segment(&args.segment) {
        Ok(segment) => segment,
        Err(err) => return fail(&err, true),
    };
    let telemetry = open_telemetry(&segment, args.cache.telemetry, &mut warnings);
    let outcome = symbols_json(args, &segment, &telemetry, &mut warnings);
    emit_event(&telemetry, args, &outcome, started, &warnings);
    match outcome {
        Ok(mut value) => {
            value["warnings"] = json!(warnings);
            print_json(&value);
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err, true),
    }
}

fn symbols_json(
    args: &SymbolsArgs,
    segment: &crate::segment::Segment,
    telemetry: &Telemetry,
    warnings: &mut Vec<String>,
) -> Result<serde_json::Value, CliError> {
    let text = args
        .uri
        .to_str()
        .ok_or_else(|| CliError::new("INVALID_URI", "invalid URI: not valid UTF-8"))?;
    let uri = SymbolUri::parse(text).map_err(uri_error)?;
    let path = uri.resolve(segment).map_err(uri_error)?;
    let analyzer = open_analyzer(segment, args.cache.persist(), telemetry, warnings)?;
    let found = analyzer.symbols(&path).map_err(analyze_error)?;
    warnings.extend(found.warnings.iter().cloned());
    let symbols = select(&found, uri.name.as_deref())?;
    Ok(json!({
        "status": "ok",
        "segment_root": segment.root.display().to_string(),
        "file_rel": found.file_rel,
        "symbols": symbols,
        "parse_errors": found.table.parse_errors,
        "cache_status": found.status,
        "cache_key": found.key.as_str(),
        "miss_reason": found.miss_reason,
        "cache_db_path": analyzer.stack.db_path.as_ref().map(|p| p.display().to_string()),
    }))
}

/// All symbols, or for a `type` URI the named definition and its members.
fn select<'a>(found: &'a FileSymbols, name: Option<&str>) -> Result<Vec<&'a Symbol>, CliError> {
    let all = &found.table.symbols;
    let Some(name) = name else {
        return Ok(all.iter().collect());
    };
    let prefix = format!("{name}.");
    let selected: Vec<&Symbol> = all
        .iter()
        .filter(|s| s.qualname == name || s.qualname.starts_with(&prefix))
        .collect();
    if selected.is_empty() {
        return Err(CliError::new(
            "SYMBOL_NOT_FOUND",
            format!("no class or function '{name}' in {}", found.file_rel),
        ));
    }
    Ok(selected)
}

fn uri_error(err: UriError) -> CliError {
    let code = match err {
        UriError::Invalid(_) => "INVALID_URI",
        UriError::NotFound(_) => "FILE_NOT_FOUND",
        UriError::NotPython(_) => "NOT_PYTHON",
    };
    CliError::new(code, err.to_string())
}

fn analyze_error(err: AnalyzeError) -> CliError {
    let code = match err {
        AnalyzeError::NotFound(_) => "FILE_NOT_FOUND",
        AnalyzeError::NotPython(_) => "NOT_PYTHON",
        AnalyzeError::TooLarge { .. } => "TOO_LARGE",
        AnalyzeError::Read { .. } => "INTERNAL_ERROR",
    };
    CliError::new(code, err.to_string())
}

fn emit_event(
    telemetry: &Telemetry,
    args: &SymbolsArgs,
    outcome: &Result<serde_json::Value, CliError>,
    started: Instant,
    warnings: &[String],
) {
    telemetry.emit_timed("ast.symbols", started.elapsed(), |e| {
        e.arg(
            "uri",
            args.uri
                .to_string_lossy()
                .chars()
                .take(256)
                .collect::<String>(),
        );
        match outcome {
            Ok(value) => {
                e.arg("file_rel", value["file_rel"].clone())
                    .result("status", "ok")
                    .result("cache_status", value["cache_status"].clone())
                    .result("miss_reason", value["miss_reason"].clone())
                    .result("cache_key", value["cache_key"].clone())
                    .result("symbols", value["symbols"].as_array().map_or(0, Vec::len));
            }
            Err(err) => {
                e.result("status", "error").result("error_code", err.code);
            }
        }
        e.warnings = warnings.iter().map(|w| strip_paths(w)).collect();
        e.extra(
            "parse_errors",
            outcome.as_ref().ok().map(|v| v["parse_errors"].clone()),
        );
    });
}

/// Warnings may quote paths; telemetry never carries absolute paths.
fn strip_paths(text: &str) -> String {
    text.split_whitespace()
        .map(|word| {
            if word.starts_with('/') {
                "<path>"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
