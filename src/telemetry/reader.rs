//! Reads every events file in a telemetry directory (live and rotated).

use std::path::{Path, PathBuf};

/// What a directory of events files holds.
#[derive(Debug, Default)]
pub struct EventsRead {
    /// Parsed lines, in file order (rotated files first, oldest first, then the live file).
    pub events: Vec<serde_json::Value>,
    /// Lines that did not parse as a JSON object.
    pub unparsable: Vec<String>,
    /// The files read.
    pub files: Vec<PathBuf>,
}

/// The events files in `dir`: `events-*.jsonl` sorted by name, then `events.jsonl`.
pub fn event_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut rotated = Vec::new();
    let mut live = None;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name == super::sink::EVENTS_FILE {
            live = Some(path);
        } else if name.starts_with("events-") && name.ends_with(".jsonl") {
            rotated.push(path);
        }
    }
    rotated.sort();
    rotated.extend(live);
    Ok(rotated)
}

/// Every event starts with this; it cannot occur inside a JSON string (quotes are escaped).
const RECORD_START: &[u8] = br#"{"ts":""#;

/// Splits a line into records at each `{"ts":"`. A writer killed by SIGKILL in the middle of
/// `write(2)` can leave part of its line without a newline (Linux stops a write between page
/// copies when a fatal signal is pending); the next writer's line then continues it. Splitting
/// recovers the whole records; the torn fragment stays unparsable.
pub fn split_records(line: &[u8]) -> Vec<&[u8]> {
    let mut starts: Vec<usize> = (1..line.len().saturating_sub(RECORD_START.len() - 1))
        .filter(|&i| line[i..].starts_with(RECORD_START))
        .collect();
    starts.insert(0, 0);
    starts.push(line.len());
    starts.windows(2).map(|w| &line[w[0]..w[1]]).collect()
}

/// Reads and parses every line of every events file in `dir`.
pub fn read_dir(dir: &Path) -> std::io::Result<EventsRead> {
    let mut read = EventsRead::default();
    if !dir.exists() {
        return Ok(read);
    }
    for path in event_files(dir)? {
        let bytes = std::fs::read(&path)?;
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            for record in split_records(line) {
                match serde_json::from_slice::<serde_json::Value>(record) {
                    Ok(value) if value.is_object() => read.events.push(value),
                    _ => read
                        .unparsable
                        .push(String::from_utf8_lossy(record).into_owned()),
                }
            }
        }
        read.files.push(path);
    }
    Ok(read)
}
