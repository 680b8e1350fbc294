//! JSONL telemetry: one JSON object per line, safe for many processes at once.
//!
//! * [`Telemetry`] is a cheap, cloneable handle; a disabled handle drops events.
//! * [`sink::JsonlSink`] appends whole lines with `O_APPEND` and rotates by size.
//! * [`reader`] reads every events file of a directory back (tests, the soak audit).

mod event;
pub mod reader;
pub mod sink;

pub use event::{Event, EventLine};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sink::JsonlSink;

/// Environment variable that redirects the events directory.
pub const ENV_DIR: &str = "TRIFECTA_TELEMETRY_DIR";
/// Environment variable that turns telemetry fully off when set to `1`.
pub const ENV_OFF: &str = "TRIFECTA_NO_TELEMETRY";
/// Environment variable that sets `run_id`.
pub const ENV_RUN_ID: &str = "TRIFECTA_RUN_ID";
/// Environment variable that sets the rotation size in bytes.
pub const ENV_MAX_BYTES: &str = "TRIFECTA_TELEMETRY_MAX_BYTES";
/// Default rotation size of `events.jsonl`.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// How much telemetry is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// Nothing is written and no directory is created.
    Off,
    /// Every event, without the `x` extras.
    #[default]
    Lite,
    /// Every event with its `x` extras.
    Full,
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "off" => Ok(Level::Off),
            "lite" => Ok(Level::Lite),
            "full" => Ok(Level::Full),
            other => Err(format!(
                "unknown telemetry level '{other}' (expected off, lite or full)"
            )),
        }
    }
}

/// Where and how telemetry is written; built from the environment by [`TelemetryConfig::from_env`].
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    pub level: Level,
    /// Directory holding `events.jsonl`.
    pub dir: PathBuf,
    pub run_id: String,
    pub segment_id: String,
    pub max_bytes: u64,
}

impl TelemetryConfig {
    /// Default location `<segment>/_ctx/telemetry`, overridden by the environment.
    pub fn from_env(segment_root: &Path, segment_id: &str, level: Level) -> Self {
        let off = std::env::var(ENV_OFF).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        let dir = std::env::var_os(ENV_DIR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| segment_root.join("_ctx").join("telemetry"));
        let run_id = std::env::var(ENV_RUN_ID)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(default_run_id);
        let max_bytes = std::env::var(ENV_MAX_BYTES)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
            .unwrap_or(DEFAULT_MAX_BYTES);
        TelemetryConfig {
            level: if off { Level::Off } else { level },
            dir,
            run_id,
            segment_id: segment_id.to_string(),
            max_bytes,
        }
    }
}

fn default_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{}-{}",
        now.unix_timestamp_nanos() / 1_000_000,
        std::process::id()
    )
}

struct Shared {
    level: Level,
    run_id: String,
    segment_id: String,
    pid: u32,
    sink: Mutex<JsonlSink>,
}

/// A cloneable handle that writes events; [`Telemetry::disabled`] writes nothing.
#[derive(Clone, Default)]
pub struct Telemetry {
    shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

impl Telemetry {
    /// A handle that drops every event.
    pub fn disabled() -> Self {
        Telemetry { shared: None }
    }

    /// Opens the sink (creating the directory) unless the level is `Off`.
    pub fn open(config: &TelemetryConfig) -> std::io::Result<Self> {
        if config.level == Level::Off {
            return Ok(Telemetry::disabled());
        }
        let sink = JsonlSink::open(&config.dir, config.max_bytes)?;
        Ok(Telemetry {
            shared: Some(Arc::new(Shared {
                level: config.level,
                run_id: config.run_id.clone(),
                segment_id: config.segment_id.clone(),
                pid: std::process::id(),
                sink: Mutex::new(sink),
            })),
        })
    }

    /// Whether events are written at all.
    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// The segment id stamped on every event (empty when disabled).
    pub fn segment_id(&self) -> &str {
        self.shared.as_ref().map_or("", |s| s.segment_id.as_str())
    }

    /// Writes one event as one line. Errors are swallowed: telemetry never fails a command.
    pub fn emit(&self, event: Event) {
        let _ = self.try_emit(event);
    }

    /// Writes one event and reports I/O errors.
    pub fn try_emit(&self, event: Event) -> std::io::Result<()> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let line = EventLine {
            ts: event::now_rfc3339_ms(),
            run_id: &shared.run_id,
            segment_id: &shared.segment_id,
            pid: shared.pid,
            event: &event,
            with_extras: shared.level == Level::Full,
        };
        let mut bytes = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        let mut sink = shared.sink.lock().unwrap_or_else(|p| p.into_inner());
        sink.append(&bytes)
    }

    /// Convenience: an event with a command name and a duration.
    pub fn emit_timed(&self, cmd: &'static str, elapsed: Duration, build: impl FnOnce(&mut Event)) {
        if !self.is_enabled() {
            return;
        }
        let mut event = Event::new(cmd, elapsed);
        build(&mut event);
        self.emit(event);
    }
}

/// 8 hex characters of SHA-256 over the canonical segment path.
pub fn segment_id(canonical_segment: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(canonical_segment.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..4])
}
