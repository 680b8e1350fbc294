//! Damaged database files are survived: the next operation answers, structural damage is
//! quarantined (`*.corrupt-*`) with an `ast.cache.corruption_detected` event, and the rebuilt
//! database passes `integrity_check` and works.

mod common;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use common::{Rng, TestSegment, events_named, key, meta_for, quarantined_files, table_with};
use trifecta::cache::{CacheKey, Lookup, SourceMeta, build_cache};
use trifecta::symbols::SymbolTable;

const ENTRIES: u32 = 200;
const PAGE: u64 = 4096;

fn entry(i: u32) -> (CacheKey, SourceMeta, SymbolTable) {
    let content = format!("def f{i}(): pass\n").into_bytes();
    (
        key(&format!("pkg/m{i}.py"), &content),
        meta_for(&content, 1),
        table_with(&format!("m{i}"), 4 + i % 6),
    )
}

/// A database with [`ENTRIES`] entries written through the stack, its WAL checkpointed into
/// the main file, so damage to the file hits real data.
fn populated_segment() -> TestSegment {
    let seg = TestSegment::new();
    {
        let stack = seg.stack(true);
        for i in 0..ENTRIES {
            let (k, m, v) = entry(i);
            stack.cache.put(&k, &m, &v).unwrap();
        }
        assert_eq!(stack.cache.stats().unwrap().entries, u64::from(ENTRIES));
    }
    let db = seg.segment.db_path();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (busy, _, _): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(busy, 0, "checkpoint blocked");
    drop(conn);
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len >= 8 * PAGE, "database too small to damage pages: {len}");
    seg
}

fn open_rw(path: &Path) -> std::fs::File {
    OpenOptions::new().write(true).open(path).unwrap()
}

fn truncate(db: &Path) {
    let len = std::fs::metadata(db).unwrap().len();
    open_rw(db).set_len(len / 2).unwrap();
}

fn overwrite_header(db: &Path) {
    let mut file = open_rw(db);
    file.write_all(&[0xA5; 100]).unwrap();
}

fn garbage_pages(db: &Path) {
    let len = std::fs::metadata(db).unwrap().len();
    let mut rng = Rng::new(7);
    let mut file = open_rw(db);
    // Every page but the first (the schema and header stay readable).
    let mut garbage = vec![0u8; (len - PAGE) as usize];
    rng.fill(&mut garbage);
    file.seek(SeekFrom::Start(PAGE)).unwrap();
    file.write_all(&garbage).unwrap();
}

fn zero_length(db: &Path) {
    open_rw(db).set_len(0).unwrap();
}

fn text_file(db: &Path) {
    let text = "This is not a database, just some notes.\n".repeat(500);
    std::fs::write(db, text).unwrap();
}

fn garbage_wal(db: &Path) {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let mut garbage = vec![0u8; 64 * 1024];
    Rng::new(11).fill(&mut garbage);
    std::fs::write(wal, garbage).unwrap();
}

/// Damages a populated database with `damage`, then checks that a new stack survives it.
fn survives(name: &str, damage: fn(&Path), structural: bool) {
    let seg = populated_segment();
    let db = seg.segment.db_path();
    damage(&db);

    let mut config = seg.config(true);
    config.sqlite.quick_check_interval = Duration::ZERO;
    let stack = build_cache(config).unwrap();
    let cache = stack.cache.as_ref();

    // The next operation answers, and never with a wrong value.
    for i in [0, ENTRIES / 2, ENTRIES - 1] {
        let (k, m, v) = entry(i);
        let lookup = cache
            .get(&k, &m)
            .unwrap_or_else(|e| panic!("{name}: get failed: {e}"));
        if let Lookup::Hit(got) = lookup {
            assert_eq!(got.as_ref(), &v, "{name}: wrong hit");
        }
    }

    let events = seg.events();
    for event in &events {
        common::assert_no_paths(event, &[seg.base.as_path()]);
    }
    let detected = events_named(&events, "ast.cache.corruption_detected");
    let quarantined = quarantined_files(&seg.segment);
    if structural {
        assert!(!detected.is_empty(), "{name}: no corruption_detected event");
        let event = detected[0];
        assert_eq!(event["result"]["backend"], "SqliteCache", "{name}");
        assert_eq!(event["result"]["segment_id"], seg.segment.id.as_str());
        let to = event["result"]["quarantined_to"].as_str().unwrap();
        assert!(
            to.contains(".corrupt-") && !to.contains('/'),
            "{name}: {to}"
        );
        assert!(
            quarantined.iter().any(|p| p.ends_with(to)),
            "{name}: {to} not among {quarantined:?}"
        );
        // The get that found the damage answered as a recovered miss.
        let misses = events_named(&events, "ast.cache.miss");
        assert!(
            misses
                .iter()
                .any(|e| e["args"]["reason"] == "corruption_recovered"),
            "{name}: {misses:?}"
        );
    } else {
        assert!(detected.is_empty(), "{name}: unexpected {detected:?}");
    }
    assert!(
        !quarantined.is_empty() || !structural,
        "{name}: no *.corrupt-* file"
    );

    let report = cache.check(true).unwrap();
    assert!(report.ok, "{name}: {report:?}");
    let (k, m, v) = entry(ENTRIES + 1);
    assert!(cache.put(&k, &m, &v).unwrap().written, "{name}");
    assert_eq!(
        cache.get(&k, &m).unwrap().hit().map(|h| h.as_ref().clone()),
        Some(v),
        "{name}"
    );
    let stats = cache.stats().unwrap();
    assert!(stats.entries >= 1, "{name}: {stats:?}");

    // A later stack (another process) opens the rebuilt database without further recovery.
    drop(stack);
    let again = seg.stack(true);
    assert!(again.cache.get(&k, &m).unwrap().hit().is_some(), "{name}");
    let detected_after = events_named(&seg.events(), "ast.cache.corruption_detected").len();
    assert_eq!(detected_after, detected.len(), "{name}: recovered twice");
}

#[test]
fn survives_a_truncated_file() {
    survives("truncated", truncate, true);
}

#[test]
fn survives_an_overwritten_header() {
    survives("overwritten header", overwrite_header, true);
}

#[test]
fn survives_garbage_pages() {
    survives("garbage pages", garbage_pages, true);
}

#[test]
fn survives_a_zero_length_file() {
    survives("zero length", zero_length, false);
}

#[test]
fn survives_a_text_file() {
    survives("text file", text_file, true);
}

#[test]
fn survives_a_garbage_wal() {
    survives("garbage wal", garbage_wal, false);
}

#[test]
fn a_garbage_wal_keeps_the_checkpointed_entries() {
    let seg = populated_segment();
    garbage_wal(&seg.segment.db_path());
    let stack = seg.stack(true);
    for i in 0..ENTRIES {
        let (k, m, v) = entry(i);
        let hit = stack.cache.get(&k, &m).unwrap();
        assert_eq!(hit.hit().map(|h| h.as_ref().clone()), Some(v));
    }
}

#[test]
fn processes_opening_a_corrupt_database_at_once_recover_it_once() {
    const TEST: &str = "processes_opening_a_corrupt_database_at_once_recover_it_once";
    if let Some(role) = common::child_role() {
        let seg = TestSegment::from_child_env();
        let index: u32 = std::env::var("TRIFECTA_TEST_INDEX")
            .unwrap()
            .parse()
            .unwrap();
        let mut config = seg.config(true);
        config.sqlite.quick_check_interval = Duration::ZERO;
        common::wait_for_file(&seg.base.join("go"));
        let stack = build_cache(config).unwrap();
        let (k, m, v) = entry(ENTRIES + 10 + index);
        let first = stack.cache.get(&k, &m).unwrap();
        assert!(first.hit().is_none(), "{first:?}");
        assert!(stack.cache.put(&k, &m, &v).unwrap().written);
        let hit = stack.cache.get(&k, &m).unwrap();
        assert_eq!(hit.hit().map(|h| h.as_ref().clone()), Some(v));
        common::child_done(&role);
        return;
    }

    const PROCESSES: u32 = 6;
    let seg = populated_segment();
    garbage_pages(&seg.segment.db_path());
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            common::spawn_child(
                TEST,
                "recover",
                &seg,
                &[("TRIFECTA_TEST_INDEX", i.to_string())],
            )
        })
        .collect();
    common::touch(&seg.base.join("go"));
    for (i, child) in children.into_iter().enumerate() {
        common::wait_ok(child, &format!("recovering child {i}"));
    }
    let events = seg.events();
    let detected = events_named(&events, "ast.cache.corruption_detected");
    assert_eq!(detected.len(), 1, "recovered more than once: {detected:?}");
    let quarantined = quarantined_files(&seg.segment);
    assert_eq!(quarantined.len(), 1);

    // Every child's entry is in the one rebuilt database.
    let stack = seg.stack(true);
    assert!(stack.cache.check(true).unwrap().ok);
    assert_eq!(stack.cache.stats().unwrap().entries, u64::from(PROCESSES));
    for i in 0..PROCESSES {
        let (k, m, v) = entry(ENTRIES + 10 + i);
        let hit = stack.cache.get(&k, &m).unwrap();
        assert_eq!(hit.hit().map(|h| h.as_ref().clone()), Some(v), "child {i}");
    }
}

#[test]
fn threads_finding_a_corrupt_database_at_once_recover_it_once() {
    const THREADS: u32 = 8;
    for round in 0..3 {
        let seg = populated_segment();
        garbage_pages(&seg.segment.db_path());
        let mut config = seg.config(true);
        config.sqlite.quick_check_interval = Duration::ZERO;
        let stack = build_cache(config).unwrap();
        let cache = stack.cache.as_ref();
        let barrier = std::sync::Barrier::new(THREADS as usize);
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let barrier = &barrier;
                scope.spawn(move || {
                    let (k, m, v) = entry(ENTRIES + 10 + t);
                    barrier.wait();
                    let first = cache.get(&k, &m).unwrap();
                    assert!(first.hit().is_none(), "{first:?}");
                    assert!(cache.put(&k, &m, &v).unwrap().written);
                });
            }
        });
        let events = seg.events();
        let detected = events_named(&events, "ast.cache.corruption_detected");
        assert_eq!(
            detected.len(),
            1,
            "round {round}: recovered more than once: {detected:?}"
        );
        assert_eq!(quarantined_files(&seg.segment).len(), 1, "round {round}");
        // No thread's entry was lost to a second recovery.
        assert_eq!(
            cache.stats().unwrap().entries,
            u64::from(THREADS),
            "round {round}"
        );
        assert!(cache.check(true).unwrap().ok);
    }
}

#[test]
fn check_reports_damage_and_an_explicit_recovery_rebuilds() {
    use trifecta::cache::Maintenance;
    let seg = populated_segment();
    garbage_pages(&seg.segment.db_path());
    // The periodic quick_check is not due: only the explicit check finds the damage.
    let stack = seg.stack(true);
    let cache = stack.cache.as_ref();
    let report = cache.check(true).unwrap();
    assert!(!report.ok, "{report:?}");
    assert!(!report.result.is_empty());

    let moved = cache
        .maintain(&Maintenance::Recover {
            reason: report.result.clone(),
        })
        .unwrap()
        .expect("the damaged file was quarantined");
    assert!(
        moved.contains(".corrupt-") && !moved.contains('/'),
        "{moved}"
    );
    assert_eq!(quarantined_files(&seg.segment).len(), 1);
    assert_eq!(
        events_named(&seg.events(), "ast.cache.corruption_detected").len(),
        1
    );

    assert!(cache.check(true).unwrap().ok);
    assert_eq!(cache.stats().unwrap().entries, 0);
    let (k, m, v) = entry(1);
    cache.put(&k, &m, &v).unwrap();
    assert_eq!(
        cache.get(&k, &m).unwrap().hit().map(|h| h.as_ref().clone()),
        Some(v)
    );
}

#[test]
fn a_due_quick_check_finds_damage_under_an_open_handle() {
    let seg = populated_segment();
    let mut config = seg.config(true);
    config.sqlite.quick_check_interval = Duration::from_millis(100);
    let stack = build_cache(config).unwrap();
    let cache = stack.cache.as_ref();
    let (k, m, v) = entry(0);
    assert_eq!(
        cache.get(&k, &m).unwrap(),
        Lookup::Hit(std::sync::Arc::new(v))
    );

    // Damage in place while the handle and its connections stay open: no lookup needs to read
    // a damaged page for the periodic check to find it.
    garbage_pages(&seg.segment.db_path());
    std::thread::sleep(Duration::from_millis(150));
    for i in 0..ENTRIES {
        let (k, m, v) = entry(i);
        if let Lookup::Hit(got) = cache.get(&k, &m).unwrap() {
            assert_eq!(got.as_ref(), &v, "wrong hit");
        }
    }
    assert!(
        !events_named(&seg.events(), "ast.cache.corruption_detected").is_empty(),
        "the due quick_check did not find the damage"
    );
    assert!(!quarantined_files(&seg.segment).is_empty());
    assert!(cache.check(true).unwrap().ok);
}
