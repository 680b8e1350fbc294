//! `trifecta cache stats|check|gc|clear`.

use serde_json::{Value, json};
use std::process::ExitCode;

use super::CacheCommand;
use super::context::{open_segment, open_telemetry};
use super::output::{CliError, fail, print_json, print_line};
use crate::cache::{AstCache, CacheConfig, CacheStats, Maintenance, build_cache};
use crate::segment::Segment;
use crate::telemetry::Level;

/// Runs a maintenance command; exit 1 on error or a failed check.
pub fn run(command: &CacheCommand) -> ExitCode {
    let (common, repair) = match command {
        CacheCommand::Stats(args) | CacheCommand::Gc(args) | CacheCommand::Clear(args) => {
            (args, false)
        }
        CacheCommand::Check(args) => (&args.common, args.repair),
    };
    let result = open_segment(&common.segment).and_then(|segment| {
        let db = segment.db_path();
        if !db.exists() {
            return Ok(no_database(command, &segment));
        }
        let cache = open_cache(&segment)?;
        match command {
            CacheCommand::Stats(_) => stats(cache.as_ref(), &segment),
            CacheCommand::Check(_) => check(cache.as_ref(), repair),
            CacheCommand::Gc(_) => gc(cache.as_ref()),
            CacheCommand::Clear(_) => clear(cache.as_ref()),
        }
    });
    match result {
        Ok(outcome) => {
            if common.json {
                print_json(&outcome.json);
            } else {
                print_line(&outcome.text);
            }
            if outcome.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => fail(&err, common.json),
    }
}

struct Outcome {
    json: Value,
    text: String,
    ok: bool,
}

fn open_cache(segment: &Segment) -> Result<Box<dyn AstCache>, CliError> {
    let telemetry = open_telemetry(segment, Level::Lite, &mut Vec::new());
    let mut config = CacheConfig::new(segment.clone(), telemetry);
    config.persist = Some(true);
    build_cache(config)
        .map(|stack| stack.cache)
        .map_err(|e| CliError::new("INTERNAL_ERROR", e.to_string()))
}

fn internal(err: crate::cache::CacheError) -> CliError {
    CliError::new("INTERNAL_ERROR", err.to_string())
}

fn no_database(command: &CacheCommand, segment: &Segment) -> Outcome {
    let path = segment.db_path().display().to_string();
    let json = match command {
        CacheCommand::Stats(_) => {
            json!({"status": "ok", "exists": false, "db_path": path, "stats": CacheStats::default()})
        }
        CacheCommand::Check(_) => {
            json!({"status": "ok", "exists": false, "db_path": path, "result": "ok"})
        }
        CacheCommand::Gc(_) => {
            json!({"status": "ok", "exists": false, "db_path": path, "expired": 0, "evicted": 0})
        }
        CacheCommand::Clear(_) => {
            json!({"status": "ok", "exists": false, "db_path": path, "removed": 0})
        }
    };
    Outcome {
        json,
        text: format!("no cache database at {path}"),
        ok: true,
    }
}

fn stats(cache: &dyn AstCache, segment: &Segment) -> Result<Outcome, CliError> {
    let stats = cache.stats().map_err(internal)?;
    let text = format!(
        "database   {}\nentries    {}\nbytes      {}\nhits       {}\nmisses     {} (stale {})\nhit rate   {:.1} %\nwrites     {}\nevictions  {}\ndb size    {} bytes (+ WAL {} bytes)\naccessed   {} .. {}",
        segment.db_path().display(),
        stats.entries,
        stats.bytes,
        stats.hits,
        stats.misses,
        stats.stale,
        stats.hit_rate * 100.0,
        stats.writes,
        stats.evictions,
        stats.db_bytes,
        stats.wal_bytes,
        format_time(stats.oldest_access_s),
        format_time(stats.newest_access_s),
    );
    Ok(Outcome {
        json: json!({"status": "ok", "exists": true, "db_path": segment.db_path().display().to_string(), "stats": stats}),
        text,
        ok: true,
    })
}

fn format_time(unix_s: Option<i64>) -> String {
    unix_s
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

fn check(cache: &dyn AstCache, repair: bool) -> Result<Outcome, CliError> {
    let report = cache.check(true).map_err(internal)?;
    if report.ok || !repair {
        let text = if report.ok {
            "integrity_check: ok".to_string()
        } else {
            format!(
                "integrity_check FAILED: {} (run with --repair to quarantine and rebuild)",
                report.result
            )
        };
        return Ok(Outcome {
            json: json!({"status": if report.ok {"ok"} else {"corrupt"}, "exists": true, "result": report.result, "repaired": false}),
            text,
            ok: report.ok,
        });
    }
    let quarantined = cache
        .maintain(&Maintenance::Recover {
            reason: format!("cache check --repair: {}", report.result),
        })
        .map_err(internal)?;
    let after = cache.check(true).map_err(internal)?;
    Ok(Outcome {
        json: json!({"status": if after.ok {"repaired"} else {"corrupt"}, "exists": true, "result": report.result,
                     "repaired": after.ok, "quarantined_to": quarantined, "result_after": after.result}),
        text: format!(
            "integrity_check FAILED: {}\nquarantined to {}; rebuilt database: {}",
            report.result,
            quarantined.as_deref().unwrap_or("-"),
            after.result
        ),
        ok: after.ok,
    })
}

fn gc(cache: &dyn AstCache) -> Result<Outcome, CliError> {
    let report = cache.gc().map_err(internal)?;
    Ok(Outcome {
        json: json!({"status": "ok", "exists": true, "expired": report.expired, "evicted": report.evicted}),
        text: format!(
            "removed {} expired and {} evicted entries",
            report.expired, report.evicted
        ),
        ok: true,
    })
}

fn clear(cache: &dyn AstCache) -> Result<Outcome, CliError> {
    let removed = cache.clear().map_err(internal)?;
    Ok(Outcome {
        json: json!({"status": "ok", "exists": true, "removed": removed}),
        text: format!("cleared the cache ({removed} entries)"),
        ok: true,
    })
}
