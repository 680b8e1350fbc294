//! Telemetry of the cache: event fields, no absolute paths, the environment switches
//! (checked in child processes so this process's environment is untouched), segment ids,
//! and many processes appending at once while the file rotates.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{
    RUN_ID, TestSegment, assert_no_paths, child_done, child_role, events_named, key, meta_for,
    read_events, spawn_child, table_for, touch, wait_for_file, wait_ok,
};
use serde_json::Value;
use trifecta::cache::{SourceMeta, build_cache};
use trifecta::segment::Segment;
use trifecta::telemetry::{self, Level, Telemetry, TelemetryConfig};

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn is_rfc3339_millis_utc(ts: &str) -> bool {
    let b = ts.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
}

/// The checks every event must pass, wherever it came from.
fn assert_well_formed(event: &Value, segment: &Segment, forbidden: &[&Path]) {
    let obj = event.as_object().expect("event is an object");
    for field in [
        "ts",
        "run_id",
        "segment_id",
        "pid",
        "cmd",
        "args",
        "result",
        "timing_ms",
        "timing_us",
        "warnings",
        "x",
    ] {
        assert!(obj.contains_key(field), "missing {field}: {event}");
    }
    let ts = event["ts"].as_str().unwrap();
    assert!(is_rfc3339_millis_utc(ts), "bad ts {ts}");
    assert!(event["cmd"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(event["args"].is_object() && event["result"].is_object() && event["x"].is_object());
    assert!(event["warnings"].is_array());
    let timing_ms = &event["timing_ms"];
    assert!(
        timing_ms.is_u64() && timing_ms.as_u64().unwrap() >= 1,
        "timing_ms must be an integer >= 1: {event}"
    );
    assert!(event["timing_us"].is_u64(), "{event}");
    assert!(event["pid"].is_u64(), "{event}");
    assert_eq!(event["segment_id"], segment.id.as_str(), "{event}");

    assert_no_paths(event, forbidden);
}

fn assert_cache_event(event: &Value, segment: &Segment, backend: &str) {
    assert!(
        event["args"]["cache_key"].is_string(),
        "no args.cache_key: {event}"
    );
    assert_eq!(event["result"]["backend"], backend, "{event}");
    assert_eq!(
        event["result"]["segment_id"],
        segment.id.as_str(),
        "{event}"
    );
}

/// Runs every kind of cache operation on a stack.
fn exercise(stack: &trifecta::cache::CacheStack) {
    let cache = stack.cache.as_ref();
    let (k, m) = (key("pkg/mod.py", b"v1"), meta_for(b"v1", 1));
    cache.get(&k, &m).unwrap(); // miss
    cache.put(&k, &m, &table_for("f")).unwrap(); // write
    cache.get(&k, &m).unwrap(); // hit
    let newer = key("pkg/mod.py", b"v2");
    cache.get(&newer, &meta_for(b"v2", 2)).unwrap(); // stale
    let touched = SourceMeta { mtime_ns: 9, ..m };
    cache.get(&k, &touched).unwrap(); // stale by metadata
    cache.delete(&k).unwrap(); // delete
    cache
        .put(&newer, &meta_for(b"v2", 2), &table_for("g"))
        .unwrap();
    cache.stats().unwrap();
    cache.clear().unwrap(); // clear
}

#[test]
fn cache_events_carry_the_contract_fields_and_no_absolute_path() {
    for (persist, backend) in [(true, "SqliteCache"), (false, "MemoryCache")] {
        let seg = TestSegment::new();
        let stack = seg.stack(persist);
        exercise(&stack);
        drop(stack);

        let events = seg.events();
        assert!(!events.is_empty());
        let forbidden = [seg.base.as_path(), seg.root()];
        for event in &events {
            assert_well_formed(event, &seg.segment, &forbidden);
            assert_eq!(event["run_id"], RUN_ID);
            assert_eq!(event["pid"], u64::from(std::process::id()));
        }
        let count = |cmd: &str| events_named(&events, cmd).len();
        assert_eq!(count("ast.cache.miss"), 1, "{backend}");
        assert_eq!(count("ast.cache.hit"), 1, "{backend}");
        assert_eq!(count("ast.cache.stale"), 2, "{backend}");
        assert_eq!(count("ast.cache.write"), 2, "{backend}");
        assert_eq!(count("ast.cache.delete"), 1, "{backend}");
        assert_eq!(count("ast.cache.clear"), 1, "{backend}");
        for cmd in [
            "ast.cache.miss",
            "ast.cache.hit",
            "ast.cache.stale",
            "ast.cache.write",
            "ast.cache.delete",
        ] {
            for event in events_named(&events, cmd) {
                assert_cache_event(event, &seg.segment, backend);
            }
        }
        let clear = events_named(&events, "ast.cache.clear")[0];
        assert_eq!(clear["result"]["backend"], backend);
        assert_eq!(clear["result"]["segment_id"], seg.segment.id.as_str());
        assert_eq!(clear["result"]["removed"], 1);
        let miss = events_named(&events, "ast.cache.miss")[0];
        assert_eq!(miss["args"]["reason"], "key_miss");
        let hit = events_named(&events, "ast.cache.hit")[0];
        assert_eq!(hit["args"]["cache_key"], key("pkg/mod.py", b"v1").as_str());
    }
}

#[test]
fn extras_are_written_at_level_full_only() {
    for (level, with_extras) in [(Level::Full, true), (Level::Lite, false)] {
        let seg = TestSegment::new();
        let config = TelemetryConfig {
            level,
            ..seg.telemetry_config()
        };
        let telemetry = Telemetry::open(&config).unwrap();
        telemetry.emit_timed("test.extras", std::time::Duration::ZERO, |e| {
            e.arg("a", 1).result("b", 2).extra("c", 3);
        });
        let events = seg.events();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_well_formed(event, &seg.segment, &[]);
        assert_eq!(event["timing_ms"], 1, "a zero duration still reports 1 ms");
        assert_eq!(event["timing_us"], 0);
        assert_eq!(event["x"].get("c").is_some(), with_extras, "{event}");
    }
}

#[test]
fn level_off_writes_nothing_and_creates_no_directory() {
    let seg = TestSegment::new();
    let config = TelemetryConfig {
        level: Level::Off,
        ..seg.telemetry_config()
    };
    let telemetry = Telemetry::open(&config).unwrap();
    assert!(!telemetry.is_enabled());
    exercise(&build_cache(seg.config_with(true, telemetry)).unwrap());
    assert!(!seg.events_dir.exists());
}

/// Child roles of the environment tests: configure telemetry from the environment exactly
/// as the CLI does, then run cache operations.
fn env_child(role: &str) {
    let seg = TestSegment::from_child_env();
    let config = TelemetryConfig::from_env(seg.root(), &seg.segment.id, Level::Full);
    match role {
        "off" => assert_eq!(config.level, Level::Off),
        _ => assert_eq!(config.level, Level::Full),
    }
    let telemetry = Telemetry::open(&config).unwrap();
    exercise(&build_cache(seg.config_with(true, telemetry)).unwrap());
    child_done(role);
}

const ENV_TEST: &str = "environment_switches_telemetry";

#[test]
fn environment_switches_telemetry() {
    if let Some(role) = child_role() {
        return env_child(&role);
    }
    let default_dir = |seg: &TestSegment| seg.root().join("_ctx").join("telemetry");

    // Default: <segment>/_ctx/telemetry, a run id of its own.
    let seg = TestSegment::new();
    wait_ok(spawn_child(ENV_TEST, "default", &seg, &[]), "default");
    let events = read_events(&default_dir(&seg));
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["run_id"] != RUN_ID && e["run_id"].as_str().is_some_and(|r| !r.is_empty()))
    );

    // TRIFECTA_NO_TELEMETRY=1: nothing written, no directory created (also with a redirect).
    let seg = TestSegment::new();
    let redirect = seg.base.join("redirected");
    wait_ok(
        spawn_child(
            ENV_TEST,
            "off",
            &seg,
            &[("TRIFECTA_NO_TELEMETRY", "1".into())],
        ),
        "off",
    );
    wait_ok(
        spawn_child(
            ENV_TEST,
            "off",
            &seg,
            &[
                ("TRIFECTA_NO_TELEMETRY", "1".into()),
                (
                    "TRIFECTA_TELEMETRY_DIR",
                    redirect.to_string_lossy().into_owned(),
                ),
            ],
        ),
        "off with redirect",
    );
    assert!(!seg.root().join("_ctx").exists(), "a directory was created");
    assert!(!redirect.exists(), "a directory was created");
    assert!(!seg.events_dir.exists());
    assert!(
        seg.segment.cache_dir().exists(),
        "the cache itself still ran"
    );

    // TRIFECTA_TELEMETRY_DIR redirects.
    let seg = TestSegment::new();
    let redirect = seg.base.join("elsewhere").join("events");
    wait_ok(
        spawn_child(
            ENV_TEST,
            "redirect",
            &seg,
            &[(
                "TRIFECTA_TELEMETRY_DIR",
                redirect.to_string_lossy().into_owned(),
            )],
        ),
        "redirect",
    );
    let events = read_events(&redirect);
    assert!(!events_named(&events, "ast.cache.hit").is_empty());
    assert!(!default_dir(&seg).exists());

    // TRIFECTA_RUN_ID sets run_id.
    let seg = TestSegment::new();
    wait_ok(
        spawn_child(
            ENV_TEST,
            "run_id",
            &seg,
            &[("TRIFECTA_RUN_ID", "ci-run-42".into())],
        ),
        "run_id",
    );
    let events = read_events(&default_dir(&seg));
    assert!(!events.is_empty());
    for event in &events {
        assert_eq!(event["run_id"], "ci-run-42");
        assert_well_formed(event, &seg.segment, &[seg.base.as_path()]);
    }
}

#[test]
fn segment_id_is_eight_hex_characters_and_stable() {
    let seg = TestSegment::new();
    let id = &seg.segment.id;
    assert_eq!(id.len(), 8, "{id}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "{id}"
    );

    // Stable for the same directory, however it is spelled.
    assert_eq!(&Segment::open(seg.root()).unwrap().id, id);
    let dotted = seg.base.join("seg").join(".").join("sub").join("..");
    std::fs::create_dir(seg.root().join("sub")).unwrap();
    assert_eq!(&Segment::open(&dotted).unwrap().id, id);
    let link = seg.base.join("link");
    std::os::unix::fs::symlink(seg.root(), &link).unwrap();
    assert_eq!(&Segment::open(&link).unwrap().id, id);
    assert_eq!(&telemetry::segment_id(seg.root()), id);

    // Another directory has another id.
    let other = seg.base.join("other");
    std::fs::create_dir(&other).unwrap();
    assert_ne!(&Segment::open(&other).unwrap().id, id);

    // Events carry it.
    let stack = seg.stack(true);
    exercise(&stack);
    for event in seg.events() {
        assert_eq!(event["segment_id"], id.as_str());
    }
}

const ROTATION_TEST: &str = "eight_processes_append_at_once_while_the_file_rotates";
const WRITERS: u64 = 8;
const EVENTS_PER_WRITER: u64 = 5_000;
const ROTATE_BYTES: u64 = 256 * 1024;

#[test]
fn eight_processes_append_at_once_while_the_file_rotates() {
    if let Some(role) = child_role() {
        let seg = TestSegment::from_child_env();
        let writer: u64 = std::env::var("TRIFECTA_TEST_INDEX")
            .unwrap()
            .parse()
            .unwrap();
        let config = TelemetryConfig {
            max_bytes: ROTATE_BYTES,
            ..seg.telemetry_config()
        };
        let telemetry = Telemetry::open(&config).unwrap();
        wait_for_file(&seg.base.join("go"));
        for seq in 0..EVENTS_PER_WRITER {
            let mut event =
                telemetry::Event::new("test.seq", std::time::Duration::from_micros(seq));
            event
                .arg("writer", writer)
                .arg("seq", seq)
                .result("padding", "p".repeat((seq % 50) as usize));
            telemetry.try_emit(event).unwrap();
        }
        child_done(&role);
        return;
    }

    let seg = TestSegment::new();
    let children: Vec<_> = (0..WRITERS)
        .map(|i| {
            spawn_child(
                ROTATION_TEST,
                "writer",
                &seg,
                &[("TRIFECTA_TEST_INDEX", i.to_string())],
            )
        })
        .collect();
    touch(&seg.base.join("go"));
    for (i, child) in children.into_iter().enumerate() {
        wait_ok(child, &format!("writer {i}"));
    }

    let read = telemetry::reader::read_dir(&seg.events_dir).unwrap();
    assert!(
        read.unparsable.is_empty(),
        "torn lines: {:?}",
        &read.unparsable[..read.unparsable.len().min(3)]
    );
    assert_eq!(read.events.len() as u64, WRITERS * EVENTS_PER_WRITER);
    assert!(
        read.files.len() > 1,
        "no rotation happened: {:?}",
        read.files
    );

    let mut seen: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut pids: BTreeMap<u64, u64> = BTreeMap::new();
    for event in &read.events {
        assert_eq!(event["cmd"], "test.seq");
        let writer = event["args"]["writer"].as_u64().unwrap();
        seen.entry(writer)
            .or_default()
            .push(event["args"]["seq"].as_u64().unwrap());
        let pid = event["pid"].as_u64().unwrap();
        assert_eq!(
            *pids.entry(writer).or_insert(pid),
            pid,
            "one process per writer"
        );
    }
    assert_eq!(seen.len() as u64, WRITERS);
    for (writer, mut seqs) in seen {
        seqs.sort_unstable();
        let expected: Vec<u64> = (0..EVENTS_PER_WRITER).collect();
        assert!(
            seqs == expected,
            "writer {writer}: sequence incomplete or duplicated ({} events)",
            seqs.len()
        );
    }
    // Rotated files are bounded near the threshold (one line over at most per writer).
    for file in &read.files {
        let len = std::fs::metadata(file).unwrap().len();
        assert!(len < ROTATE_BYTES * 2, "{} has {len} bytes", file.display());
    }
}

#[test]
fn failing_operations_report_warnings_without_absolute_paths() {
    let seg = TestSegment::new();
    let stack = seg.stack(true);
    // The cache directory becomes unusable after the stack was built: a file takes its place,
    // so the lock and database files cannot be opened.
    let cache_dir = seg.segment.cache_dir();
    std::fs::remove_dir_all(&cache_dir).unwrap();
    std::fs::write(&cache_dir, b"not a directory").unwrap();

    let (k, m) = (key("pkg/mod.py", b"v1"), meta_for(b"v1", 1));
    assert!(stack.cache.get(&k, &m).is_err());
    assert!(stack.cache.put(&k, &m, &table_for("f")).is_err());

    let events = seg.events();
    let miss = events_named(&events, "ast.cache.miss");
    assert_eq!(miss.len(), 1, "{events:?}");
    assert_eq!(miss[0]["args"]["reason"], "error");
    let write = events_named(&events, "ast.cache.write");
    assert_eq!(write.len(), 1, "{events:?}");
    assert_eq!(write[0]["result"]["written"], false);
    for event in [miss[0], write[0]] {
        let warnings = event["warnings"].as_array().unwrap();
        assert!(!warnings.is_empty(), "the failure is explained: {event}");
        assert_cache_event(event, &seg.segment, "SqliteCache");
    }
    let forbidden = [seg.base.as_path(), seg.root()];
    for event in &events {
        assert_well_formed(event, &seg.segment, &forbidden);
    }
}

#[test]
fn a_torn_line_is_split_and_the_following_record_recovered() {
    use trifecta::telemetry::reader::split_records;
    let torn = br#"{"ts":"2026-01-01T00:00:00.000Z","pid":7,"cmd":"ast.ca"#;
    let whole = br#"{"ts":"2026-01-01T00:00:00.001Z","pid":8,"cmd":"ast.cache.hit"}"#;
    let line = [&torn[..], &whole[..]].concat();
    let records = split_records(&line);
    assert_eq!(records, vec![&torn[..], &whole[..]]);
    assert!(serde_json::from_slice::<serde_json::Value>(records[1]).is_ok());
    // A quote inside a string is escaped, so `{"ts":"` never starts inside a value.
    let quoted = br#"{"ts":"x","args":{"q":"{\"ts\":\"y"}}"#;
    assert_eq!(split_records(quoted), vec![&quoted[..]]);
}
