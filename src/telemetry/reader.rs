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

/// Reads and parses every line of every events file in `dir`.
pub fn read_dir(dir: &Path) -> std::io::Result<EventsRead> {
    let mut read = EventsRead::default();
    if !dir.exists() {
        return Ok(read);
    }
    for path in event_files(dir)? {
        let bytes = std::fs::read(&path)?;
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<serde_json::Value>(line) {
                Ok(value) if value.is_object() => read.events.push(value),
                _ => read
                    .unparsable
                    .push(String::from_utf8_lossy(line).into_owned()),
            }
        }
        read.files.push(path);
    }
    Ok(read)
}
