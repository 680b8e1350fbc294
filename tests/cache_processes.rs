//! The cache shared by real OS processes: distinct writers, an external lock holder, a
//! mixed read/write soak with changing content, and counters that persist across processes.
//!
//! Each test re-runs this binary as children (see `common`); the child role is chosen by
//! `TRIFECTA_TEST_CHILD` and checked first in the test function.

mod common;

use std::time::{Duration, Instant};

use common::{
    Rng, TestSegment, child_done, child_role, events_named, key, meta_for, spawn_child, table_for,
    touch, wait_for_file, wait_ok,
};
use trifecta::cache::filelock::{CacheLock, LockMode};
use trifecta::cache::{
    AstCache, CacheError, LockConfig, Lookup, MissReason, SqliteCache, SqliteConfig, build_cache,
};
use trifecta::symbols::SymbolTable;

/// Environment: index of a child among its siblings.
const INDEX_ENV: &str = "TRIFECTA_TEST_INDEX";
/// Environment: how many keys a writer child puts.
const KEYS_ENV: &str = "TRIFECTA_TEST_KEYS";

fn env_u64(name: &str) -> u64 {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} not set"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

/// Child role: put `KEYS_ENV` distinct keys of its own, after a common start signal.
fn writer_child(role: &str) {
    let seg = TestSegment::from_child_env();
    let index = env_u64(INDEX_ENV);
    let keys = env_u64(KEYS_ENV);
    wait_for_file(&seg.base.join("go"));
    let stack = seg.stack(true);
    for j in 0..keys {
        let content = format!("process {index} key {j}").into_bytes();
        let k = key(&format!("p{index}/k{j}.py"), &content);
        let outcome = stack
            .cache
            .put(
                &k,
                &meta_for(&content, 1),
                &table_for(&format!("p{index}k{j}")),
            )
            .unwrap();
        assert!(outcome.written, "{outcome:?}");
    }
    child_done(role);
}

/// Starts `processes` writers of `keys` keys each and checks the total.
fn distinct_writers(test: &str, processes: u64, keys: u64) {
    let seg = TestSegment::new();
    let children: Vec<_> = (0..processes)
        .map(|i| {
            spawn_child(
                test,
                "writer",
                &seg,
                &[(INDEX_ENV, i.to_string()), (KEYS_ENV, keys.to_string())],
            )
        })
        .collect();
    touch(&seg.base.join("go"));
    for (i, child) in children.into_iter().enumerate() {
        wait_ok(child, &format!("writer {i}"));
    }
    let stack = seg.stack(true);
    let stats = stack.cache.stats().unwrap();
    assert_eq!(stats.entries, processes * keys, "{stats:?}");
    assert_eq!(stats.writes, processes * keys, "{stats:?}");
    for i in 0..processes {
        for j in 0..keys {
            let content = format!("process {i} key {j}").into_bytes();
            let k = key(&format!("p{i}/k{j}.py"), &content);
            let hit = stack.cache.get(&k, &meta_for(&content, 1)).unwrap();
            assert_eq!(
                hit.hit().map(|v| v.as_ref().clone()),
                Some(table_for(&format!("p{i}k{j}"))),
                "{k}"
            );
        }
    }
    assert!(stack.cache.check(true).unwrap().ok);
}

#[test]
fn two_processes_twenty_keys_each_give_forty_entries() {
    if let Some(role) = child_role() {
        return writer_child(&role);
    }
    distinct_writers("two_processes_twenty_keys_each_give_forty_entries", 2, 20);
}

#[test]
fn ten_processes_five_keys_each_give_fifty_entries() {
    if let Some(role) = child_role() {
        return writer_child(&role);
    }
    distinct_writers("ten_processes_five_keys_each_give_fifty_entries", 10, 5);
}

#[test]
fn an_external_lock_holder_makes_operations_time_out_and_degrade() {
    if let Some(role) = child_role() {
        // Holder: take the cache's lock exclusive, announce it, hold it until released.
        let seg = TestSegment::from_child_env();
        let lock = CacheLock::new(seg.segment.lock_path());
        let guard = lock
            .acquire(LockMode::Exclusive, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("holder could not take the lock: {e:?}"));
        assert_eq!(guard.mode(), LockMode::Exclusive);
        touch(&seg.base.join("held"));
        let started = Instant::now();
        while !seg.base.join("release").exists() && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(guard);
        child_done(&role);
        return;
    }

    let seg = TestSegment::new();
    let mut config = seg.config(true);
    config.lock = LockConfig {
        timeout: Duration::from_millis(300),
        wait_threshold: Duration::from_millis(1),
    };
    let stack = build_cache(config).unwrap();
    let cache = stack.cache.as_ref();
    let (k, m) = (key("held.py", b"held"), meta_for(b"held", 1));
    cache.put(&k, &m, &table_for("held")).unwrap();
    assert!(cache.get(&k, &m).unwrap().hit().is_some());
    let before = events_named(&seg.events(), "ast.cache.lock_timeout").len();
    assert_eq!(before, 0);

    let holder = spawn_child(
        "an_external_lock_holder_makes_operations_time_out_and_degrade",
        "holder",
        &seg,
        &[],
    );
    wait_for_file(&seg.base.join("held"));

    // The operation waits, times out and still answers.
    assert_eq!(
        cache.get(&k, &m).unwrap(),
        Lookup::Miss(MissReason::LockTimeout)
    );
    let other = key("other.py", b"other");
    let outcome = cache
        .put(&other, &meta_for(b"other", 1), &table_for("other"))
        .unwrap();
    assert!(!outcome.written, "{outcome:?}");
    assert_eq!(outcome.skipped, Some(MissReason::LockTimeout));

    let events = seg.events();
    let timeouts = events_named(&events, "ast.cache.lock_timeout");
    assert_eq!(timeouts.len(), 2, "{timeouts:?}");
    for event in &events {
        common::assert_no_paths(event, &[seg.base.as_path()]);
    }
    for event in &timeouts {
        assert_eq!(event["result"]["backend"], "SqliteCache");
        assert_eq!(event["result"]["segment_id"], seg.segment.id.as_str());
        assert_eq!(event["args"]["mode"], "shared");
        assert!(event["timing_ms"].as_u64().unwrap() >= 1);
    }
    let ops: Vec<_> = timeouts.iter().map(|e| e["args"]["op"].clone()).collect();
    assert_eq!(ops, ["get", "put"]);
    // The degraded get is reported as a miss with its reason.
    assert!(
        events_named(&events, "ast.cache.miss")
            .iter()
            .any(|e| e["args"]["reason"] == "lock_timeout"),
    );
    assert!(!events_named(&events, "ast.cache.lock_wait").is_empty());

    touch(&seg.base.join("release"));
    wait_ok(holder, "lock holder");

    // Once the holder is gone the cache works again; the skipped put wrote nothing.
    assert!(cache.get(&k, &m).unwrap().hit().is_some());
    assert_eq!(
        cache.get(&other, &meta_for(b"other", 1)).unwrap(),
        Lookup::Miss(MissReason::KeyMiss)
    );
    assert_eq!(cache.stats().unwrap().entries, 1);
}

const SOAK_KEYS: u64 = 20;
const SOAK_VERSIONS: u64 = 6;
const SOAK_PROCESSES: u64 = 8;
const SOAK_SECONDS: u64 = 10;

/// The bytes of key `i` at version `v`.
fn soak_content(i: u64, v: u64) -> Vec<u8> {
    format!(
        "def k{i}v{v}():\n    return {}\n",
        "x".repeat((i * 7 + v * 3) as usize % 40)
    )
    .into_bytes()
}

/// The value derived from a content: the first symbol's name says which content it came
/// from (what an extractor would produce for it).
fn soak_value(content: &[u8]) -> SymbolTable {
    let text = std::str::from_utf8(content).unwrap();
    let name = text
        .strip_prefix("def ")
        .and_then(|rest| rest.split('(').next())
        .unwrap();
    let mut table = table_for(name);
    table.parse_errors = (content.len() % 7) as u32;
    table
}

#[test]
fn eight_processes_read_and_write_changing_content_without_wrong_hits() {
    if let Some(role) = child_role() {
        let seg = TestSegment::from_child_env();
        let index = env_u64(INDEX_ENV);
        let mut rng = Rng::new(std::process::id() as u64 ^ (index << 32));
        wait_for_file(&seg.base.join("go"));
        let stack = seg.stack(true);
        let cache = stack.cache.as_ref();
        let (mut hits, mut misses, mut puts, mut deletes) = (0u64, 0u64, 0u64, 0u64);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(SOAK_SECONDS) {
            let i = rng.below(SOAK_KEYS);
            let v = rng.below(SOAK_VERSIONS);
            let content = soak_content(i, v);
            let k = key(&format!("soak/k{i}.py"), &content);
            // The file's metadata follows its content.
            let m = meta_for(&content, v as i64 + 1_000);
            match cache.get(&k, &m).unwrap() {
                Lookup::Hit(value) => {
                    hits += 1;
                    assert_eq!(
                        value.as_ref(),
                        &soak_value(&content),
                        "wrong hit for key {i} version {v}"
                    );
                }
                Lookup::Miss(reason) => {
                    misses += 1;
                    assert!(
                        matches!(reason, MissReason::KeyMiss | MissReason::Stale),
                        "unexpected miss reason {reason:?}"
                    );
                    let outcome = cache.put(&k, &m, &soak_value(&content)).unwrap();
                    assert!(outcome.written || outcome.skipped.is_some());
                    puts += 1;
                }
            }
            match rng.below(100) {
                0 => {
                    cache.delete(&k).unwrap();
                    deletes += 1;
                }
                1 => {
                    let stats = cache.stats().unwrap();
                    assert!(stats.entries <= SOAK_KEYS, "{stats:?}");
                }
                _ => {}
            }
        }
        println!("hits={hits} misses={misses} puts={puts} deletes={deletes}");
        child_done(&role);
        return;
    }

    let seg = TestSegment::new();
    let children: Vec<_> = (0..SOAK_PROCESSES)
        .map(|i| {
            spawn_child(
                "eight_processes_read_and_write_changing_content_without_wrong_hits",
                "soak",
                &seg,
                &[(INDEX_ENV, i.to_string())],
            )
        })
        .collect();
    touch(&seg.base.join("go"));
    let mut total_hits = 0;
    for (i, child) in children.into_iter().enumerate() {
        let stdout = wait_ok(child, &format!("soak child {i}"));
        let hits: u64 = stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix("hits="))
            .and_then(|n| n.parse().ok())
            .expect("child reports its hits");
        total_hits += hits;
    }
    println!("soak: {total_hits} verified hits across {SOAK_PROCESSES} processes");
    assert!(total_hits > 0, "the soak never hit the cache");

    let stack = seg.stack(true);
    let cache = stack.cache.as_ref();
    let report = cache.check(true).unwrap();
    assert!(report.ok, "{report:?}");
    let stats = cache.stats().unwrap();
    assert!(
        stats.entries <= SOAK_KEYS,
        "one row per file at most: {stats:?}"
    );
    assert!(stats.hits >= total_hits, "{stats:?}");
    // Whatever is left is right.
    for i in 0..SOAK_KEYS {
        for v in 0..SOAK_VERSIONS {
            let content = soak_content(i, v);
            let k = key(&format!("soak/k{i}.py"), &content);
            if let Lookup::Hit(value) = cache
                .get(&k, &meta_for(&content, v as i64 + 1_000))
                .unwrap()
            {
                assert_eq!(value.as_ref(), &soak_value(&content));
            }
        }
    }
    assert!(
        seg.events()
            .iter()
            .all(|e| e["cmd"] != "ast.cache.corruption_detected"),
        "the soak must not corrupt the database"
    );
}

#[test]
fn counters_written_by_a_child_show_up_in_the_parents_stats() {
    if let Some(role) = child_role() {
        let seg = TestSegment::from_child_env();
        let stack = seg.stack(true);
        let (k, m) = (key("shared.py", b"shared"), meta_for(b"shared", 1));
        for _ in 0..5 {
            assert!(stack.cache.get(&k, &m).unwrap().hit().is_some());
        }
        for j in 0..2 {
            let missing = key(&format!("missing{j}.py"), b"none");
            assert!(stack.cache.get(&missing, &m).unwrap().hit().is_none());
        }
        // Dropping the stack at the end of the role flushes the batched counters.
        drop(stack);
        child_done(&role);
        return;
    }

    let seg = TestSegment::new();
    let stack = seg.stack(true);
    let (k, m) = (key("shared.py", b"shared"), meta_for(b"shared", 1));
    stack.cache.put(&k, &m, &table_for("shared")).unwrap();
    let before = stack.cache.stats().unwrap();
    assert_eq!((before.hits, before.misses), (0, 0));

    let child = spawn_child(
        "counters_written_by_a_child_show_up_in_the_parents_stats",
        "reader",
        &seg,
        &[],
    );
    wait_ok(child, "reader");

    let after = stack.cache.stats().unwrap();
    assert_eq!((after.hits, after.misses), (5, 2), "{after:?}");
    assert!((after.hit_rate - 5.0 / 7.0).abs() < 1e-12, "{after:?}");
    assert_eq!(after.entries, 1);
    assert_eq!(after.writes, 1);
}

#[test]
fn a_clear_by_another_process_is_seen_by_open_handles() {
    if let Some(role) = child_role() {
        let seg = TestSegment::from_child_env();
        let stack = seg.stack(true);
        assert_eq!(stack.cache.clear().unwrap(), 10);
        child_done(&role);
        return;
    }

    let seg = TestSegment::new();
    let stack = seg.stack(true);
    let cache = stack.cache.as_ref();
    let entry = |i: u32| {
        let content = format!("clear {i}").into_bytes();
        (key(&format!("c{i}.py"), &content), meta_for(&content, 1))
    };
    for i in 0..10 {
        let (k, m) = entry(i);
        cache.put(&k, &m, &table_for(&format!("c{i}"))).unwrap();
        assert!(cache.get(&k, &m).unwrap().hit().is_some());
    }

    let child = spawn_child(
        "a_clear_by_another_process_is_seen_by_open_handles",
        "clear",
        &seg,
        &[],
    );
    wait_ok(child, "clearing child");

    // This process's pooled connections pointed at the removed file: none of its entries
    // may come back, and the handle keeps working on the new database.
    for i in 0..10 {
        let (k, m) = entry(i);
        assert_eq!(
            cache.get(&k, &m).unwrap(),
            Lookup::Miss(MissReason::KeyMiss)
        );
    }
    let (k, m) = entry(99);
    cache.put(&k, &m, &table_for("c99")).unwrap();
    assert!(cache.get(&k, &m).unwrap().hit().is_some());
    assert_eq!(cache.stats().unwrap().entries, 1);
    assert!(cache.check(true).unwrap().ok);
    let fresh = seg.stack(true);
    assert!(fresh.cache.get(&k, &m).unwrap().hit().is_some());
    assert_eq!(fresh.cache.stats().unwrap().entries, 1);
}

#[test]
fn hits_answer_while_another_process_holds_the_sqlite_write_lock() {
    if let Some(role) = child_role() {
        let seg = TestSegment::from_child_env();
        let conn = rusqlite::Connection::open(seg.segment.db_path()).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        touch(&seg.base.join("held"));
        wait_for_file(&seg.base.join("release"));
        conn.execute_batch("COMMIT").unwrap();
        child_done(&role);
        return;
    }

    let seg = TestSegment::new();
    let mut config = seg.config(true);
    config.sqlite.busy_timeout = Duration::from_millis(200);
    config.sqlite.flush_interval = Duration::ZERO; // every lookup tries to write its counters
    let stack = build_cache(config).unwrap();
    let cache = stack.cache.as_ref();
    let entries: Vec<_> = (0..20)
        .map(|i| {
            let content = format!("w{i}").into_bytes();
            (key(&format!("w{i}.py"), &content), meta_for(&content, 1))
        })
        .collect();
    for (i, (k, m)) in entries.iter().enumerate() {
        cache.put(k, m, &table_for(&format!("w{i}"))).unwrap();
    }
    // Old access times: hits will want to refresh them.
    let raw = rusqlite::Connection::open(seg.segment.db_path()).unwrap();
    raw.execute("UPDATE entries SET accessed_s = accessed_s - 3600", [])
        .unwrap();
    drop(raw);

    // The SQLite backend itself, so its busy retries can be read.
    let sqlite = SqliteCache::new(
        seg.segment.db_path(),
        SqliteConfig {
            busy_timeout: Duration::from_millis(200),
            flush_interval: Duration::ZERO,
            ..SqliteConfig::default()
        },
        seg.telemetry(),
    );
    assert!(
        sqlite
            .get(&entries[0].0, &entries[0].1)
            .unwrap()
            .hit()
            .is_some()
    );

    let holder = spawn_child(
        "hits_answer_while_another_process_holds_the_sqlite_write_lock",
        "writer-lock",
        &seg,
        &[],
    );
    wait_for_file(&seg.base.join("held"));
    let retries_before = sqlite.busy_retries();
    for (i, (k, m)) in entries.iter().enumerate() {
        for cache in [cache, &sqlite as &dyn AstCache] {
            let lookup = cache.get(k, m).unwrap();
            assert_eq!(
                lookup.hit().map(|v| v.as_ref().clone()),
                Some(table_for(&format!("w{i}"))),
            );
        }
    }
    assert_eq!(
        sqlite.busy_retries(),
        retries_before,
        "a hit waited on the writer (its batched counters must not make it queue)"
    );
    // A write cannot get through while the lock is held: it waits, then says so.
    let (k, m) = (key("late.py", b"late"), meta_for(b"late", 1));
    match sqlite.put(&k, &m, &table_for("late")) {
        Err(CacheError::Busy) => {}
        other => panic!("expected Busy while the write lock is held, got {other:?}"),
    }
    assert!(sqlite.busy_retries() > retries_before);
    assert!(matches!(
        cache.put(&k, &m, &table_for("late")),
        Err(CacheError::Busy)
    ));
    touch(&seg.base.join("release"));
    wait_ok(holder, "write-lock holder");
    sqlite.flush_pending().unwrap();
    drop(sqlite);

    // Afterwards the batched counters and the write go through.
    cache.put(&k, &m, &table_for("late")).unwrap();
    let stats = cache.stats().unwrap();
    assert_eq!(stats.hits, 41, "{stats:?}");
    assert_eq!(stats.entries, 21, "{stats:?}");
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        stats.oldest_access_s.unwrap() > now_s - 3000,
        "access times were refreshed after the lock was released: {stats:?}"
    );
}

#[test]
fn many_handles_creating_a_fresh_database_at_once_all_succeed() {
    // Independent stacks (own connections and lock handles, as separate processes have)
    // racing to create, switch to WAL and migrate a database that does not exist yet.
    const HANDLES: usize = 12;
    for round in 0..15 {
        let seg = TestSegment::new();
        let barrier = std::sync::Barrier::new(HANDLES);
        std::thread::scope(|scope| {
            for h in 0..HANDLES {
                let (seg, barrier) = (&seg, &barrier);
                scope.spawn(move || {
                    let stack = seg.stack(true);
                    let content = format!("round {round} handle {h}").into_bytes();
                    let k = key(&format!("h{h}.py"), &content);
                    let m = meta_for(&content, 1);
                    barrier.wait();
                    let lookup = stack.cache.get(&k, &m);
                    assert!(
                        matches!(lookup, Ok(Lookup::Miss(MissReason::KeyMiss))),
                        "round {round}: {lookup:?}"
                    );
                    let outcome = stack.cache.put(&k, &m, &table_for("h"));
                    assert!(
                        outcome.as_ref().is_ok_and(|o| o.written),
                        "round {round}: {outcome:?}"
                    );
                });
            }
        });
        let stack = seg.stack(true);
        assert_eq!(stack.cache.stats().unwrap().entries, HANDLES as u64);
    }
}
