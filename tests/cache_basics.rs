//! Basic behaviour of the cache stack: hits and misses, shared handles, typed values,
//! stale detection, moving the segment, damaged values and backend selection.

mod common;

use common::{TestSegment, all_kinds_table, key, meta_for, table_for};
use trifecta::cache::{CacheError, CacheStats, Lookup, MissReason, SourceMeta, build_cache};
use trifecta::segment::Segment;

const BOTH: [bool; 2] = [false, true];

fn backend_name(persist: bool) -> &'static str {
    if persist {
        "SqliteCache"
    } else {
        "MemoryCache"
    }
}

fn assert_hit_rate_consistent(stats: &CacheStats) {
    assert!(
        (0.0..=1.0).contains(&stats.hit_rate),
        "hit_rate out of [0, 1]: {stats:?}"
    );
    let requests = stats.hits + stats.misses;
    let expected = if requests == 0 {
        0.0
    } else {
        stats.hits as f64 / requests as f64
    };
    assert!((stats.hit_rate - expected).abs() < 1e-12, "{stats:?}");
}

#[test]
fn hit_rate_is_zero_on_an_empty_cache_and_within_bounds() {
    for persist in BOTH {
        let seg = TestSegment::new();
        let stack = seg.stack(persist);
        let cache = stack.cache.as_ref();
        assert_eq!(cache.backend(), backend_name(persist));

        let empty = cache.stats().unwrap();
        assert_eq!(empty.entries, 0);
        assert_eq!(empty.hits + empty.misses, 0);
        assert_eq!(empty.hit_rate, 0.0, "{empty:?}");

        let content = b"def f(): pass\n";
        let k = key("m.py", content);
        let m = meta_for(content, 1);
        // Misses only: rate 0.
        assert_eq!(
            cache.get(&k, &m).unwrap(),
            Lookup::Miss(MissReason::KeyMiss)
        );
        let stats = cache.stats().unwrap();
        assert_hit_rate_consistent(&stats);
        assert_eq!(stats.hit_rate, 0.0);

        cache.put(&k, &m, &table_for("f")).unwrap();
        for _ in 0..3 {
            assert!(cache.get(&k, &m).unwrap().hit().is_some());
        }
        let stats = cache.stats().unwrap();
        assert_eq!((stats.hits, stats.misses), (3, 1), "{persist}: {stats:?}");
        assert_hit_rate_consistent(&stats);
        assert_eq!(stats.hit_rate, 0.75);

        // Hits only on a second key keep the rate in bounds.
        let other = key("n.py", b"x");
        cache
            .put(&other, &meta_for(b"x", 1), &table_for("g"))
            .unwrap();
        for _ in 0..100 {
            cache.get(&other, &meta_for(b"x", 1)).unwrap();
        }
        assert_hit_rate_consistent(&cache.stats().unwrap());
    }
}

#[test]
fn miss_then_hit_with_the_same_key_and_value() {
    for persist in BOTH {
        let seg = TestSegment::new();
        let stack = seg.stack(persist);
        let cache = stack.cache.as_ref();
        let content = b"class A:\n    def run(self): pass\n";
        let k = key("pkg/a.py", content);
        let m = meta_for(content, 1_700_000_000_000_000_000);
        let value = table_for("a");

        assert_eq!(
            cache.get(&k, &m).unwrap(),
            Lookup::Miss(MissReason::KeyMiss)
        );
        let outcome = cache.put(&k, &m, &value).unwrap();
        assert!(outcome.written);
        assert_eq!(outcome.skipped, None);
        let hit = cache.get(&k, &m).unwrap();
        assert_eq!(hit.hit().map(|v| v.as_ref()), Some(&value), "{persist}");

        // The same content under another file is another key.
        let elsewhere = key("pkg/b.py", content);
        assert_ne!(elsewhere, k);
        assert_eq!(
            cache.get(&elsewhere, &m).unwrap(),
            Lookup::Miss(MissReason::KeyMiss)
        );

        assert!(cache.delete(&k).unwrap());
        assert!(!cache.delete(&k).unwrap());
        assert_eq!(
            cache.get(&k, &m).unwrap(),
            Lookup::Miss(MissReason::KeyMiss)
        );
    }
}

#[test]
fn two_stacks_on_one_database_share_entries() {
    let seg = TestSegment::new();
    let first = seg.stack(true);
    let second = seg.stack(true);
    assert_eq!(first.db_path, second.db_path);
    let (a, b) = (first.cache.as_ref(), second.cache.as_ref());

    let m = meta_for(b"one", 7);
    let k1 = key("one.py", b"one");
    a.put(&k1, &m, &table_for("one")).unwrap();
    assert_eq!(
        b.get(&k1, &m).unwrap().hit().map(|v| v.as_ref().clone()),
        Some(table_for("one"))
    );

    let m2 = meta_for(b"two", 7);
    let k2 = key("two.py", b"two");
    b.put(&k2, &m2, &table_for("two")).unwrap();
    assert_eq!(
        a.get(&k2, &m2).unwrap().hit().map(|v| v.as_ref().clone()),
        Some(table_for("two"))
    );

    assert_eq!(a.stats().unwrap().entries, 2);
    assert_eq!(b.stats().unwrap().entries, 2);

    assert!(b.delete(&k1).unwrap());
    assert_eq!(a.get(&k1, &m).unwrap(), Lookup::Miss(MissReason::KeyMiss));
    assert_eq!(a.stats().unwrap().entries, 1);

    // A stack built later (a new process, as far as the database knows) sees the same rows.
    drop(first);
    let third = seg.stack(true);
    assert!(third.db_existed);
    assert!(third.cache.get(&k2, &m2).unwrap().hit().is_some());
}

#[test]
fn values_round_trip_with_their_types() {
    for persist in BOTH {
        let seg = TestSegment::new();
        let value = all_kinds_table();
        let k = key("types.py", b"types");
        let m = meta_for(b"types", 3);
        {
            let stack = seg.stack(persist);
            stack.cache.put(&k, &m, &value).unwrap();
            let hit = stack.cache.get(&k, &m).unwrap();
            assert_eq!(hit.hit().map(|v| v.as_ref()), Some(&value));
        }
        if persist {
            // Read back by a new stack: the value comes from the database, not from memory.
            let stack = seg.stack(true);
            let hit = stack.cache.get(&k, &m).unwrap();
            let got = hit.hit().expect("hit from the database");
            assert_eq!(got.as_ref(), &value);
            let kinds: Vec<_> = got.symbols.iter().map(|s| s.kind).collect();
            use trifecta::symbols::SymbolKind::*;
            assert_eq!(kinds, [Class, Class, Method, Method, Function, Function]);
            assert_eq!(got.parse_errors, 3);
            assert_eq!(got.symbols[5].end_line, u32::MAX);
        }
    }
}

#[test]
fn same_key_with_other_source_meta_is_stale() {
    for persist in BOTH {
        let seg = TestSegment::new();
        let stack = seg.stack(persist);
        let cache = stack.cache.as_ref();
        let content = b"def f(): pass\n";
        let k = key("f.py", content);
        let m = meta_for(content, 100);
        let value = table_for("f");

        cache.put(&k, &m, &value).unwrap();
        let touched = SourceMeta { mtime_ns: 101, ..m };
        assert_eq!(
            cache.get(&k, &touched).unwrap(),
            Lookup::Miss(MissReason::Stale)
        );

        cache.put(&k, &m, &value).unwrap();
        let resized = SourceMeta {
            size: m.size + 1,
            ..m
        };
        assert_eq!(
            cache.get(&k, &resized).unwrap(),
            Lookup::Miss(MissReason::Stale)
        );

        // Writing the entry again for the new metadata makes it a hit again.
        cache.put(&k, &touched, &value).unwrap();
        assert!(cache.get(&k, &touched).unwrap().hit().is_some());
        let stats = cache.stats().unwrap();
        assert_eq!(stats.entries, 1, "{persist}: {stats:?}");
        assert!(stats.stale >= 2, "{persist}: {stats:?}");
    }
}

#[test]
fn new_content_of_the_same_file_is_stale_and_replaces_the_old_row() {
    for persist in BOTH {
        let seg = TestSegment::new();
        let stack = seg.stack(persist);
        let cache = stack.cache.as_ref();
        let v1 = b"def one(): pass\n".as_slice();
        let v2 = b"def one(): pass\ndef two(): pass\n".as_slice();
        let (k1, m1) = (key("mod.py", v1), meta_for(v1, 1));
        let (k2, m2) = (key("mod.py", v2), meta_for(v2, 2));
        assert_ne!(k1, k2);

        cache.put(&k1, &m1, &table_for("one")).unwrap();
        assert_eq!(
            cache.get(&k2, &m2).unwrap(),
            Lookup::Miss(MissReason::Stale)
        );

        let outcome = cache.put(&k2, &m2, &table_for("two")).unwrap();
        assert_eq!(outcome.replaced_stale, 1, "{persist}");
        assert_eq!(cache.stats().unwrap().entries, 1, "{persist}");
        assert_eq!(
            cache
                .get(&k2, &m2)
                .unwrap()
                .hit()
                .map(|v| v.as_ref().clone()),
            Some(table_for("two"))
        );
        // The old content is gone: it is never served again.
        assert!(cache.get(&k1, &m1).unwrap().hit().is_none());
        // Other files are not affected.
        let other = key("other.py", v1);
        cache.put(&other, &m1, &table_for("other")).unwrap();
        assert_eq!(cache.stats().unwrap().entries, 2);
    }
}

#[test]
fn moving_the_segment_directory_keeps_every_entry() {
    let seg = TestSegment::new();
    let root = seg.base.join("project");
    std::fs::create_dir(&root).unwrap();
    let entries: Vec<_> = (0..25)
        .map(|i| {
            let content = format!("def f{i}(): pass\n").into_bytes();
            let rel = format!("pkg/m{i}.py");
            (
                key(&rel, &content),
                meta_for(&content, i),
                table_for(&format!("f{i}")),
            )
        })
        .collect();
    {
        let segment = Segment::open(&root).unwrap();
        let mut config = seg.config(true);
        config.segment = segment;
        let stack = build_cache(config).unwrap();
        for (k, m, v) in &entries {
            stack.cache.put(k, m, v).unwrap();
        }
    }

    let moved = seg.base.join("renamed-project");
    std::fs::rename(&root, &moved).unwrap();
    let segment = Segment::open(&moved).unwrap();
    let db = segment.db_path();
    assert!(db.exists(), "the database moves with the segment");
    let mut config = seg.config(true);
    config.segment = segment;
    let stack = build_cache(config).unwrap();
    assert!(stack.db_existed);
    for (k, m, v) in &entries {
        let hit = stack.cache.get(k, m).unwrap();
        assert_eq!(hit.hit().map(|h| h.as_ref()), Some(v), "{k}");
    }
    assert_eq!(stack.cache.stats().unwrap().entries, entries.len() as u64);
}

#[test]
fn a_damaged_value_is_a_miss_never_a_wrong_hit() {
    let seg = TestSegment::new();
    let stack = seg.stack(true);
    let cache = stack.cache.as_ref();
    let db = stack.db_path.clone().unwrap();

    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 5] = [
        ("flip one byte", |v| {
            let mid = v.len() / 2;
            v[mid] ^= 0x55;
        }),
        ("truncate", |v| v.truncate(v.len() / 2)),
        ("empty", |v| v.clear()),
        ("zeroes", |v| v.iter_mut().for_each(|b| *b = 0)),
        ("append", |v| v.extend_from_slice(b"tail")),
    ];
    let raw = rusqlite::Connection::open(&db).unwrap();
    for (i, (name, damage)) in damages.iter().enumerate() {
        let content = format!("content {i}").into_bytes();
        let k = key(&format!("d{i}.py"), &content);
        let m = meta_for(&content, 5);
        cache.put(&k, &m, &table_for(&format!("d{i}"))).unwrap();

        let mut value: Vec<u8> = raw
            .query_row(
                "SELECT value FROM entries WHERE key = ?1",
                [k.as_str()],
                |r| r.get(0),
            )
            .unwrap();
        damage(&mut value);
        let changed = raw
            .execute(
                "UPDATE entries SET value = ?2 WHERE key = ?1",
                rusqlite::params![k.as_str(), value],
            )
            .unwrap();
        assert_eq!(changed, 1);

        assert_eq!(
            cache.get(&k, &m).unwrap(),
            Lookup::Miss(MissReason::Damaged),
            "{name}"
        );
        // The damaged row was removed: the next lookup is a plain miss, and a put heals it.
        assert_eq!(
            cache.get(&k, &m).unwrap(),
            Lookup::Miss(MissReason::KeyMiss),
            "{name}"
        );
        cache.put(&k, &m, &table_for(&format!("d{i}"))).unwrap();
        assert_eq!(
            cache.get(&k, &m).unwrap().hit().map(|v| v.as_ref().clone()),
            Some(table_for(&format!("d{i}"))),
            "{name}"
        );
    }
    assert!(cache.check(true).unwrap().ok);
}

#[test]
fn persist_env_selects_the_backend() {
    const TEST: &str = "persist_env_selects_the_backend";
    if let Some(role) = common::child_role() {
        let seg = TestSegment::from_child_env();
        let mut config = seg.config(true);
        config.persist = None; // read TRIFECTA_AST_PERSIST
        match role.as_str() {
            "memory" => {
                let stack = build_cache(config).unwrap();
                assert!(!stack.persistent);
                assert_eq!(stack.cache.backend(), "MemoryCache");
                assert!(stack.db_path.is_none());
                stack
                    .cache
                    .put(&key("a.py", b"a"), &meta_for(b"a", 1), &table_for("a"))
                    .unwrap();
            }
            "sqlite" | "default" => {
                let stack = build_cache(config).unwrap();
                assert!(stack.persistent);
                assert_eq!(stack.cache.backend(), "SqliteCache");
                stack
                    .cache
                    .put(&key("a.py", b"a"), &meta_for(b"a", 1), &table_for("a"))
                    .unwrap();
                assert!(stack.db_path.unwrap().exists());
            }
            "invalid" => match build_cache(config) {
                Err(CacheError::Config(message)) => {
                    assert!(message.contains("TRIFECTA_AST_PERSIST"))
                }
                Err(other) => panic!("expected a configuration error, got {other}"),
                Ok(_) => panic!("expected a configuration error, got a stack"),
            },
            other => panic!("unknown role {other}"),
        }
        common::child_done(&role);
        return;
    }

    for (role, value) in [
        ("memory", Some("0")),
        ("sqlite", Some("1")),
        ("default", None),
        ("invalid", Some("maybe")),
    ] {
        let seg = TestSegment::new();
        let extra: Vec<(&str, String)> = value
            .map(|v| vec![("TRIFECTA_AST_PERSIST", v.to_string())])
            .unwrap_or_default();
        let child = common::spawn_child(TEST, role, &seg, &extra);
        common::wait_ok(child, role);
        let db_exists = seg.segment.db_path().exists();
        assert_eq!(db_exists, role == "sqlite" || role == "default", "{role}");
    }
}

#[test]
fn keys_are_segment_relative_versioned_and_content_addressed() {
    use trifecta::cache::CACHE_VERSION;
    let k = key("pkg/a.py", b"def f(): pass\n");
    assert!(
        k.as_str()
            .starts_with(&format!("ast:v{CACHE_VERSION}:pkg/a.py:")),
        "{k}"
    );
    assert_eq!(k.file_rel(), "pkg/a.py");
    assert_eq!(k, key("pkg/a.py", b"def f(): pass\n"));
    assert_ne!(k, key("pkg/a.py", b"def f(): pass \n"));
    assert_ne!(k, key("pkg/b.py", b"def f(): pass\n"));
    assert!(!k.as_str().contains("/tmp"));
}

#[test]
fn segment_resolves_relative_paths_and_cache_files() {
    let seg = TestSegment::new();
    let root = seg.root();
    let segment = &seg.segment;
    assert_eq!(
        segment.relative(&root.join("pkg").join("a.py")).as_deref(),
        Some("pkg/a.py")
    );
    assert_eq!(segment.relative(root), None);
    assert_eq!(segment.relative(&seg.base.join("outside.py")), None);
    assert_eq!(
        segment.relative(&root.join("..").join("seg").join("a.py")),
        None
    );

    let db_name = segment
        .db_path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        db_name.starts_with("ast_cache_") && db_name.ends_with(".db"),
        "{db_name}"
    );
    assert!(
        segment
            .db_path()
            .starts_with(root.join(".trifecta").join("cache"))
    );
    assert_eq!(segment.lock_path().parent(), segment.db_path().parent());

    let file = root.join("file.txt");
    std::fs::write(&file, "x").unwrap();
    assert!(Segment::open(&file).is_err());
    assert!(Segment::open(&seg.base.join("missing")).is_err());
}

#[test]
fn a_database_switched_out_of_wal_is_switched_back_and_keeps_its_entries() {
    let seg = TestSegment::new();
    let (k, m) = (key("wal.py", b"wal"), meta_for(b"wal", 1));
    {
        let stack = seg.stack(true);
        stack.cache.put(&k, &m, &table_for("wal")).unwrap();
    }
    let journal_mode = |conn: &rusqlite::Connection| -> String {
        conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap()
    };
    {
        // Another tool turns WAL off (this also folds the WAL into the database file).
        let raw = rusqlite::Connection::open(seg.segment.db_path()).unwrap();
        let mode: String = raw
            .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
    }

    let stack = seg.stack(true);
    let hit = stack.cache.get(&k, &m).unwrap();
    assert_eq!(
        hit.hit().map(|v| v.as_ref().clone()),
        Some(table_for("wal"))
    );
    let raw = rusqlite::Connection::open(seg.segment.db_path()).unwrap();
    assert_eq!(journal_mode(&raw), "wal");
    assert!(stack.cache.check(true).unwrap().ok);
}
