//! What every command opens: the segment, its telemetry and the cache stack.

use std::path::Path;

use super::output::CliError;
use crate::analysis::Analyzer;
use crate::cache::{CacheConfig, CacheError, CacheStack, build_cache};
use crate::segment::Segment;
use crate::telemetry::{Level, Telemetry, TelemetryConfig};

/// Resolves the segment directory or fails with `SEGMENT_NOT_FOUND`.
pub fn open_segment(dir: &Path) -> Result<Segment, CliError> {
    Segment::open(dir).map_err(|e| CliError::new("SEGMENT_NOT_FOUND", e.to_string()))
}

/// Telemetry for `segment` at `level`; a sink that cannot be opened turns telemetry off with a
/// warning instead of failing the command.
pub fn open_telemetry(segment: &Segment, level: Level, warnings: &mut Vec<String>) -> Telemetry {
    let config = TelemetryConfig::from_env(&segment.root, &segment.id, level);
    Telemetry::open(&config).unwrap_or_else(|err| {
        warnings.push(format!("telemetry disabled: {err}"));
        Telemetry::disabled()
    })
}

/// The cache stack; when the persistent cache cannot be set up (read-only segment, ...) the
/// command goes on with an in-memory cache and a warning.
pub fn open_analyzer(
    segment: &Segment,
    persist: Option<bool>,
    telemetry: &Telemetry,
    warnings: &mut Vec<String>,
) -> Result<Analyzer, CliError> {
    let mut config = CacheConfig::new(segment.clone(), telemetry.clone());
    config.persist = persist;
    let stack = match build_cache(config.clone()) {
        Ok(stack) => stack,
        Err(CacheError::Config(message)) => return Err(CliError::new("INVALID_CONFIG", message)),
        Err(err) => {
            warnings.push(format!("persistent cache unavailable, using memory: {err}"));
            config.persist = Some(false);
            fallback(config)?
        }
    };
    Ok(Analyzer::new(segment.clone(), stack))
}

fn fallback(config: CacheConfig) -> Result<CacheStack, CliError> {
    build_cache(config).map_err(|e| CliError::new("INTERNAL_ERROR", e.to_string()))
}
