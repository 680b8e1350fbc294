//! Resource limits: LRU eviction by entries and bytes (both backends, also from several
//! threads), oversized values, invalid limits, exact byte accounting, TTL expiry.

mod common;

use common::{TestSegment, key, meta_for, table_for, table_with};
use rusqlite::Connection;
use trifecta::cache::memory::entry_bytes;
use trifecta::cache::{
    CacheError, CacheStack, CacheStats, Lookup, MemoryCache, MemoryLimits, MissReason, build_cache,
};

const BOTH: [bool; 2] = [false, true];

/// A stack whose active backend has `max_entries` and `max_bytes`.
fn limited_stack(seg: &TestSegment, persist: bool, max_entries: u64, max_bytes: u64) -> CacheStack {
    let mut config = seg.config(persist);
    config.memory = MemoryLimits {
        max_entries,
        max_bytes,
    };
    config.sqlite.max_entries = max_entries;
    config.sqlite.max_bytes = max_bytes;
    build_cache(config).expect("build limited stack")
}

fn assert_within(stats: &CacheStats, max_entries: u64, max_bytes: u64) {
    assert!(
        stats.entries <= max_entries,
        "entries over the limit: {stats:?}"
    );
    assert!(stats.bytes <= max_bytes, "bytes over the limit: {stats:?}");
}

/// Entries and bytes as the rows in the database say (not the counters).
fn raw_totals(seg: &TestSegment) -> (u64, u64) {
    let conn = Connection::open(seg.segment.db_path()).unwrap();
    conn.query_row(
        "SELECT count(*), coalesce(sum(bytes), 0) FROM entries",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
    )
    .unwrap()
}

#[test]
fn eviction_holds_max_entries_under_load() {
    for persist in BOTH {
        let seg = TestSegment::new();
        let stack = limited_stack(&seg, persist, 50, u64::MAX / 4);
        let cache = stack.cache.as_ref();
        let mut evicted = 0;
        for i in 0..600u32 {
            let content = format!("entry {i}").into_bytes();
            let outcome = cache
                .put(
                    &key(&format!("m{i}.py"), &content),
                    &meta_for(&content, 1),
                    &table_for(&format!("t{i}")),
                )
                .unwrap();
            assert!(outcome.written);
            evicted += outcome.evicted;
            if i % 50 == 0 {
                assert_within(&cache.stats().unwrap(), 50, u64::MAX / 4);
            }
        }
        let stats = cache.stats().unwrap();
        assert_eq!(stats.entries, 50, "{persist}: {stats:?}");
        assert_eq!(evicted, 550, "{persist}");
        assert_eq!(stats.evictions, 550, "{persist}: {stats:?}");
        if persist {
            assert_eq!(raw_totals(&seg), (stats.entries, stats.bytes));
        }
        // The most recently written entries survive; the oldest are gone.
        let newest = format!("entry {}", 599).into_bytes();
        let hit = cache
            .get(&key("m599.py", &newest), &meta_for(&newest, 1))
            .unwrap();
        assert!(hit.hit().is_some(), "{persist}");
        let oldest = b"entry 0".to_vec();
        let miss = cache
            .get(&key("m0.py", &oldest), &meta_for(&oldest, 1))
            .unwrap();
        assert_eq!(miss, Lookup::Miss(MissReason::KeyMiss), "{persist}");
    }
}

#[test]
fn eviction_holds_max_bytes_under_load() {
    for persist in BOTH {
        let seg = TestSegment::new();
        let max_bytes = 16 * 1024;
        let stack = limited_stack(&seg, persist, 100_000, max_bytes);
        let cache = stack.cache.as_ref();
        for i in 0..800u32 {
            let content = format!("sized {i}").into_bytes();
            // Values of varying size, all well below the limit.
            let value = table_with(&format!("v{i}"), 1 + i % 12);
            cache
                .put(
                    &key(&format!("s{i}.py"), &content),
                    &meta_for(&content, 1),
                    &value,
                )
                .unwrap();
        }
        let stats = cache.stats().unwrap();
        assert_within(&stats, 100_000, max_bytes);
        assert!(stats.entries > 1, "{persist}: {stats:?}");
        assert!(stats.evictions > 0, "{persist}: {stats:?}");
        if persist {
            assert_eq!(raw_totals(&seg), (stats.entries, stats.bytes));
        }
    }
}

#[test]
fn eviction_holds_the_limits_with_four_threads() {
    for persist in BOTH {
        let seg = TestSegment::new();
        let (max_entries, max_bytes) = (40, 12 * 1024);
        let stack = limited_stack(&seg, persist, max_entries, max_bytes);
        let cache = stack.cache.as_ref();
        std::thread::scope(|scope| {
            for t in 0..4u32 {
                scope.spawn(move || {
                    for i in 0..250u32 {
                        let content = format!("thread {t} entry {i}").into_bytes();
                        let k = key(&format!("t{t}/m{i}.py"), &content);
                        let m = meta_for(&content, i64::from(i));
                        let value = table_with(&format!("t{t}_{i}"), 1 + (i + t) % 8);
                        assert!(cache.put(&k, &m, &value).unwrap().written);
                        // A hit is always this key's own value.
                        if let Lookup::Hit(got) = cache.get(&k, &m).unwrap() {
                            assert_eq!(got.as_ref(), &value);
                        }
                        if i % 25 == 0 {
                            assert_within(&cache.stats().unwrap(), max_entries, max_bytes);
                        }
                    }
                });
            }
        });
        let stats = cache.stats().unwrap();
        assert_within(&stats, max_entries, max_bytes);
        assert!(stats.evictions > 0, "{persist}: {stats:?}");
        assert_eq!(stats.writes, 1000, "{persist}: {stats:?}");
        if persist {
            assert_eq!(raw_totals(&seg), (stats.entries, stats.bytes));
            assert!(cache.check(true).unwrap().ok);
        }
    }
}

#[test]
fn memory_cache_refuses_a_value_larger_than_max_bytes() {
    let limits = MemoryLimits {
        max_entries: 10,
        max_bytes: 512,
    };
    let cache = MemoryCache::new(limits).unwrap();
    use trifecta::cache::AstCache;
    let small = key("small.py", b"s");
    cache
        .put(&small, &meta_for(b"s", 1), &table_for("s"))
        .unwrap();

    let big_value = table_with("big", 64);
    let big = key("big.py", b"b");
    assert!(entry_bytes(&big, &big_value) > 512);
    match cache.put(&big, &meta_for(b"b", 1), &big_value) {
        Err(CacheError::ValueTooLarge { size, max }) => {
            assert_eq!(size, entry_bytes(&big, &big_value));
            assert_eq!(max, 512);
        }
        other => panic!("expected ValueTooLarge, got {other:?}"),
    }
    // The refusal evicted nothing and left the accounting intact.
    let stats = cache.stats().unwrap();
    assert_eq!(stats.entries, 1);
    assert_eq!(stats.bytes, entry_bytes(&small, &table_for("s")));
    assert!(
        cache
            .get(&small, &meta_for(b"s", 1))
            .unwrap()
            .hit()
            .is_some()
    );

    // The same through the factory's stack.
    let seg = TestSegment::new();
    let stack = limited_stack(&seg, false, 10, 512);
    assert!(matches!(
        stack.cache.put(&big, &meta_for(b"b", 1), &big_value),
        Err(CacheError::ValueTooLarge { .. })
    ));
}

#[test]
fn sqlite_cache_refuses_a_value_larger_than_max_bytes() {
    let seg = TestSegment::new();
    let stack = limited_stack(&seg, true, 10, 512);
    let small = key("small.py", b"s");
    stack
        .cache
        .put(&small, &meta_for(b"s", 1), &table_for("s"))
        .unwrap();
    let big = key("big.py", b"b");
    assert!(matches!(
        stack
            .cache
            .put(&big, &meta_for(b"b", 1), &table_with("big", 64)),
        Err(CacheError::ValueTooLarge { max: 512, .. })
    ));
    assert_eq!(stack.cache.stats().unwrap().entries, 1);
    assert!(
        stack
            .cache
            .get(&small, &meta_for(b"s", 1))
            .unwrap()
            .hit()
            .is_some()
    );
}

#[test]
fn zero_limits_are_configuration_errors() {
    let zero_entries = MemoryLimits {
        max_entries: 0,
        max_bytes: 1024,
    };
    assert!(matches!(
        MemoryCache::new(zero_entries),
        Err(CacheError::Config(_))
    ));
    let zero_bytes = MemoryLimits {
        max_entries: 10,
        max_bytes: 0,
    };
    assert!(matches!(
        MemoryCache::new(zero_bytes),
        Err(CacheError::Config(_))
    ));

    for persist in BOTH {
        let seg = TestSegment::new();
        let mut config = seg.config(persist);
        config.memory.max_entries = 0;
        config.sqlite.max_entries = 0;
        assert!(
            matches!(build_cache(config), Err(CacheError::Config(_))),
            "{persist}"
        );
    }
}

#[test]
fn memory_byte_accounting_is_exact_on_overwrite_and_delete() {
    let seg = TestSegment::new();
    let stack = seg.stack(false);
    let cache = stack.cache.as_ref();
    let k = key("a.py", b"a");
    let m = meta_for(b"a", 1);
    let small = table_with("a", 1);
    let large = table_with("a", 20);

    cache.put(&k, &m, &small).unwrap();
    assert_eq!(cache.stats().unwrap().bytes, entry_bytes(&k, &small));
    cache.put(&k, &m, &large).unwrap();
    assert_eq!(cache.stats().unwrap().bytes, entry_bytes(&k, &large));
    cache.put(&k, &m, &small).unwrap();
    assert_eq!(cache.stats().unwrap().bytes, entry_bytes(&k, &small));
    assert_eq!(cache.stats().unwrap().entries, 1);

    // New content for the same file replaces the old entry's bytes.
    let k2 = key("a.py", b"a2");
    cache.put(&k2, &m, &large).unwrap();
    assert_eq!(cache.stats().unwrap().bytes, entry_bytes(&k2, &large));

    let mut expected = entry_bytes(&k2, &large);
    let mut keys = vec![k2];
    for i in 0..30u32 {
        let content = format!("c{i}").into_bytes();
        let ki = key(&format!("f{i}.py"), &content);
        let value = table_with(&format!("f{i}"), i % 5);
        cache.put(&ki, &meta_for(&content, 1), &value).unwrap();
        expected += entry_bytes(&ki, &value);
        keys.push(ki);
    }
    assert_eq!(cache.stats().unwrap().bytes, expected);

    // A stale lookup drops the entry and its bytes.
    let stale_meta = meta_for(b"zzz", 99);
    assert_eq!(
        cache.get(&keys[1], &stale_meta).unwrap(),
        Lookup::Miss(MissReason::Stale)
    );
    assert!(!cache.delete(&keys[1]).unwrap());
    for k in &keys {
        cache.delete(k).unwrap();
    }
    let stats = cache.stats().unwrap();
    assert_eq!((stats.entries, stats.bytes), (0, 0), "{stats:?}");
}

#[test]
fn sqlite_byte_accounting_is_exact_on_overwrite_and_delete() {
    let seg = TestSegment::new();
    let stack = seg.stack(true);
    let cache = stack.cache.as_ref();
    let k = key("a.py", b"a");
    let m = meta_for(b"a", 1);
    let small = table_with("a", 1);
    let large = table_with("a", 20);

    cache.put(&k, &m, &small).unwrap();
    let small_bytes = cache.stats().unwrap().bytes;
    assert!(small_bytes > 0);
    cache.put(&k, &m, &large).unwrap();
    let large_bytes = cache.stats().unwrap().bytes;
    assert!(large_bytes > small_bytes);
    cache.put(&k, &m, &small).unwrap();
    assert_eq!(
        cache.stats().unwrap().bytes,
        small_bytes,
        "overwrite adds nothing"
    );
    assert_eq!(raw_totals(&seg), (1, small_bytes));

    let mut keys = vec![k];
    for i in 0..30u32 {
        let content = format!("c{i}").into_bytes();
        let ki = key(&format!("f{i}.py"), &content);
        cache
            .put(
                &ki,
                &meta_for(&content, 1),
                &table_with(&format!("f{i}"), i % 5),
            )
            .unwrap();
        keys.push(ki);
    }
    // New content for a file replaces its row and its bytes.
    let replaced = key("f3.py", b"c3 edited");
    cache
        .put(&replaced, &meta_for(b"c3 edited", 2), &table_with("f3", 3))
        .unwrap();
    keys.push(replaced);
    let stats = cache.stats().unwrap();
    assert_eq!(stats.entries, 31);
    assert_eq!(raw_totals(&seg), (stats.entries, stats.bytes));

    for k in &keys {
        cache.delete(k).unwrap();
    }
    let stats = cache.stats().unwrap();
    assert_eq!((stats.entries, stats.bytes), (0, 0), "{stats:?}");
    assert_eq!(raw_totals(&seg), (0, 0));
}

/// Makes the rows of `file_rels` look idle for `days` days.
fn age_rows(seg: &TestSegment, file_rels: &[String], days: i64) {
    let conn = Connection::open(seg.segment.db_path()).unwrap();
    for rel in file_rels {
        let changed = conn
            .execute(
                "UPDATE entries SET accessed_s = accessed_s - ?2 WHERE file_rel = ?1",
                rusqlite::params![rel, days * 86_400],
            )
            .unwrap();
        assert_eq!(changed, 1, "{rel}");
    }
}

#[test]
fn gc_removes_rows_idle_longer_than_the_ttl() {
    let seg = TestSegment::new();
    let stack = seg.stack(true);
    let cache = stack.cache.as_ref();
    let files: Vec<String> = (0..10).map(|i| format!("ttl/m{i}.py")).collect();
    for (i, rel) in files.iter().enumerate() {
        cache
            .put(
                &key(rel, rel.as_bytes()),
                &meta_for(rel.as_bytes(), 1),
                &table_for(&format!("m{i}")),
            )
            .unwrap();
    }
    age_rows(&seg, &files[..3], 8);
    age_rows(&seg, &files[3..5], 6);

    let report = cache.gc().unwrap();
    assert_eq!(report.expired, 3, "{report:?}");
    assert_eq!(report.evicted, 0, "{report:?}");
    let stats = cache.stats().unwrap();
    assert_eq!(stats.entries, 7, "{stats:?}");
    assert_eq!(raw_totals(&seg), (stats.entries, stats.bytes));
    for (i, rel) in files.iter().enumerate() {
        let lookup = cache
            .get(&key(rel, rel.as_bytes()), &meta_for(rel.as_bytes(), 1))
            .unwrap();
        if i < 3 {
            assert_eq!(lookup, Lookup::Miss(MissReason::KeyMiss), "{rel}");
        } else {
            assert!(lookup.hit().is_some(), "{rel} should survive");
        }
    }
    // Nothing else is due.
    assert_eq!(cache.gc().unwrap().expired, 0);

    // The events report what gc removed.
    let events = seg.events();
    let evict = common::events_named(&events, "ast.cache.evict");
    assert!(
        evict.iter().any(|e| e["result"]["expired"] == 3),
        "no evict event with expired = 3: {evict:?}"
    );
}

#[test]
fn idle_rows_are_also_expired_by_puts() {
    let seg = TestSegment::new();
    let stack = seg.stack(true);
    let cache = stack.cache.as_ref();
    let idle: Vec<String> = (0..4).map(|i| format!("idle/m{i}.py")).collect();
    for rel in &idle {
        cache
            .put(&key(rel, b"x"), &meta_for(b"x", 1), &table_for("idle"))
            .unwrap();
    }
    age_rows(&seg, &idle, 30);
    for i in 0..600u32 {
        let content = format!("busy {i}").into_bytes();
        cache
            .put(
                &key(&format!("busy/m{i}.py"), &content),
                &meta_for(&content, 1),
                &table_for("busy"),
            )
            .unwrap();
    }
    let stats = cache.stats().unwrap();
    assert_eq!(
        stats.entries, 600,
        "idle rows should have expired without gc: {stats:?}"
    );
    for rel in &idle {
        assert_eq!(
            cache.get(&key(rel, b"x"), &meta_for(b"x", 1)).unwrap(),
            Lookup::Miss(MissReason::KeyMiss)
        );
    }
}

#[test]
fn size_warning_is_emitted_past_the_threshold() {
    let seg = TestSegment::new();
    {
        let stack = seg.stack(true);
        for i in 0..50u32 {
            let content = format!("size {i}").into_bytes();
            stack
                .cache
                .put(
                    &key(&format!("s{i}.py"), &content),
                    &meta_for(&content, 1),
                    &table_with("s", 8),
                )
                .unwrap();
        }
    }
    assert!(
        common::events_named(&seg.events(), "ast.cache.size_warning").is_empty(),
        "the default threshold is far away"
    );

    let mut config = seg.config(true);
    config.sqlite.size_warning_bytes = 4096;
    let stack = build_cache(config).unwrap();
    let content = b"size 0".to_vec();
    assert!(
        stack
            .cache
            .get(&key("s0.py", &content), &meta_for(&content, 1))
            .unwrap()
            .hit()
            .is_some()
    );
    let events = seg.events();
    let warnings = common::events_named(&events, "ast.cache.size_warning");
    assert!(!warnings.is_empty());
    let event = warnings[0];
    assert_eq!(event["result"]["backend"], "SqliteCache");
    assert_eq!(event["result"]["segment_id"], seg.segment.id.as_str());
    assert_eq!(event["result"]["threshold_bytes"], 4096);
    let total = event["result"]["db_bytes"].as_u64().unwrap()
        + event["result"]["wal_bytes"].as_u64().unwrap();
    assert!(total > 4096, "{event}");
}
