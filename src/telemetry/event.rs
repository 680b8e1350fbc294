//! The event record and its JSON line form (DESIGN.md section 4).

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Map, Value};
use std::time::Duration;

/// One telemetry event before it is stamped with time, run and process.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event name, e.g. `ast.cache.hit`.
    pub cmd: &'static str,
    pub args: Map<String, Value>,
    pub result: Map<String, Value>,
    /// Duration in microseconds.
    pub timing_us: u64,
    pub warnings: Vec<String>,
    /// Extras, written at level `full` only.
    pub x: Map<String, Value>,
}

impl Event {
    /// A new event with empty fields.
    pub fn new(cmd: &'static str, elapsed: Duration) -> Self {
        Event {
            cmd,
            args: Map::new(),
            result: Map::new(),
            timing_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            warnings: Vec::new(),
            x: Map::new(),
        }
    }

    /// Adds an `args` field.
    pub fn arg(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.args.insert(name.to_string(), value.into());
        self
    }

    /// Adds a `result` field.
    pub fn result(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.result.insert(name.to_string(), value.into());
        self
    }

    /// Adds an `x` (extras) field.
    pub fn extra(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.x.insert(name.to_string(), value.into());
        self
    }

    /// `timing_ms` for compatibility: whole milliseconds rounded up, at least 1.
    pub fn timing_ms(&self) -> u64 {
        self.timing_us.div_ceil(1000).max(1)
    }
}

/// The serialised line: stamped fields plus the event.
pub struct EventLine<'a> {
    pub ts: String,
    pub run_id: &'a str,
    pub segment_id: &'a str,
    pub pid: u32,
    pub event: &'a Event,
    pub with_extras: bool,
}

impl Serialize for EventLine<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let empty = Map::new();
        let mut map = serializer.serialize_map(Some(11))?;
        map.serialize_entry("ts", &self.ts)?;
        map.serialize_entry("run_id", self.run_id)?;
        map.serialize_entry("segment_id", self.segment_id)?;
        map.serialize_entry("pid", &self.pid)?;
        map.serialize_entry("cmd", self.event.cmd)?;
        map.serialize_entry("args", &self.event.args)?;
        map.serialize_entry("result", &self.event.result)?;
        map.serialize_entry("timing_ms", &self.event.timing_ms())?;
        map.serialize_entry("timing_us", &self.event.timing_us)?;
        map.serialize_entry("warnings", &self.event.warnings)?;
        let x = if self.with_extras {
            &self.event.x
        } else {
            &empty
        };
        map.serialize_entry("x", x)?;
        map.end()
    }
}

/// Current UTC time as RFC 3339 with milliseconds, e.g. `2026-01-06T10:00:00.123Z`.
pub fn now_rfc3339_ms() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}
