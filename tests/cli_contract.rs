//! The `trifecta` CLI contract (DESIGN.md section 5): every command, output field, error code
//! and miss reason, telemetry, and `ctx search` ranking and output.

mod cli_support;

use std::time::Duration;

use cli_support::{SYMBOLS_KEYS, Seg, cache_outcome, check_fixture, symbol_rows};
use serde_json::Value;
use trifecta::cache::filelock::{CacheLock, LockMode};

const MODULE: &str = "\
class Parser:
    def parse(self, text):
        return text

    class Inner:
        def deep(self):
            pass


def helper():
    return 1
";

fn row(kind: &str, qualname: &str, line: u64, end_line: u64) -> (String, String, u64, u64) {
    (kind.to_string(), qualname.to_string(), line, end_line)
}

fn module_rows() -> Vec<(String, String, u64, u64)> {
    vec![
        row("class", "Parser", 1, 7),
        row("method", "Parser.parse", 2, 3),
        row("class", "Parser.Inner", 5, 7),
        row("method", "Parser.Inner.deep", 6, 7),
        row("function", "helper", 10, 11),
    ]
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("object").keys().cloned().collect();
    keys.sort_unstable();
    keys
}

/// Writes the WAL back into the database file, then overwrites the SQLite header.
fn corrupt_database(seg: &Seg) {
    let db = seg.db_path();
    {
        let conn = rusqlite::Connection::open(&db).expect("open db");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
    }
    let mut bytes = std::fs::read(&db).expect("read db");
    assert!(bytes.len() >= 100, "database too small to corrupt");
    bytes[..16].copy_from_slice(b"this is garbage!");
    std::fs::write(&db, bytes).expect("write db");
}

// ---------------------------------------------------------------------------------------------
// ast symbols: output fields

#[test]
fn symbols_output_has_every_field() {
    let seg = Seg::new();
    seg.write("pkg/__init__.py", "");
    seg.write("pkg/mod.py", MODULE);
    let json = seg.module("pkg.mod").ok();
    assert_eq!(keys(&json), SYMBOLS_KEYS);
    assert_eq!(json["segment_root"], seg.root.display().to_string());
    assert_eq!(json["file_rel"], "pkg/mod.py");
    assert_eq!(symbol_rows(&json), module_rows());
    for symbol in json["symbols"].as_array().unwrap() {
        assert_eq!(
            keys(symbol),
            ["end_line", "kind", "line", "name", "qualname"]
        );
        let qualname = symbol["qualname"].as_str().unwrap();
        assert_eq!(symbol["name"], qualname.rsplit('.').next().unwrap());
    }
    assert_eq!(json["parse_errors"], 0);
    assert_eq!(
        cache_outcome(&json),
        ("miss".into(), "cold_cache_db_missing".into())
    );
    let key = json["cache_key"].as_str().expect("cache_key is a string");
    assert!(key.contains("pkg/mod.py"), "key names the file: {key}");
    assert_eq!(json["cache_db_path"], seg.db_path().display().to_string());
    assert!(seg.db_path().is_file());
    assert_eq!(json["warnings"], Value::Array(vec![]));
}

#[test]
fn syntax_errors_are_counted_and_cached() {
    let seg = Seg::new();
    seg.write(
        "broken.py",
        "def good():\n    pass\n\ndef bad(:\n    pass\n\nclass Later:\n    pass\n",
    );
    let first = seg.module("broken").ok();
    assert!(first["parse_errors"].as_u64().unwrap() >= 1, "{first}");
    let names: Vec<String> = symbol_rows(&first).into_iter().map(|r| r.1).collect();
    assert!(names.contains(&"good".to_string()), "{names:?}");
    assert!(names.contains(&"Later".to_string()), "{names:?}");
    let second = seg.module("broken").ok();
    assert_eq!(cache_outcome(&second), ("hit".into(), "cache_hit".into()));
    assert_eq!(second["symbols"], first["symbols"]);
    assert_eq!(second["parse_errors"], first["parse_errors"]);
    // The fixed file is a new key.
    seg.write("broken.py", "def good():\n    pass\n");
    let fixed = seg.module("broken").ok();
    assert_eq!(fixed["parse_errors"], 0);
    assert_ne!(fixed["cache_key"], first["cache_key"]);
    assert_eq!(fixed["cache_status"], "stale");
}

#[test]
fn package_uri_resolves_to_init() {
    let seg = Seg::new();
    seg.write("pkg/__init__.py", "class Exported:\n    pass\n");
    seg.write("pkg/sub/__init__.py", "");
    seg.write("pkg/sub/leaf.py", "def leaf():\n    pass\n");
    let json = seg.module("pkg").ok();
    assert_eq!(json["file_rel"], "pkg/__init__.py");
    assert_eq!(symbol_rows(&json), [row("class", "Exported", 1, 2)]);
    let json = seg.module("pkg.sub.leaf").ok();
    assert_eq!(json["file_rel"], "pkg/sub/leaf.py");
    // `<path>.py` comes before `<path>/__init__.py`.
    seg.write("pkg.py", "def shadow():\n    pass\n");
    assert_eq!(seg.module("pkg").ok()["file_rel"], "pkg.py");
}

#[test]
fn type_uri_selects_one_definition_and_its_members() {
    let seg = Seg::new();
    seg.write("mod.py", MODULE);
    let json = seg.symbols("sym://python/type/mod#Parser", &[]).ok();
    assert_eq!(symbol_rows(&json), module_rows()[..4].to_vec());
    let json = seg.symbols("sym://python/type/mod#Parser.Inner", &[]).ok();
    assert_eq!(
        symbol_rows(&json),
        [
            row("class", "Parser.Inner", 5, 7),
            row("method", "Parser.Inner.deep", 6, 7)
        ]
    );
    let json = seg.symbols("sym://python/type/mod#helper", &[]).ok();
    assert_eq!(symbol_rows(&json), [row("function", "helper", 10, 11)]);
    // A name that only prefixes another is not a match.
    seg.symbols("sym://python/type/mod#Pars", &[])
        .error("SYMBOL_NOT_FOUND");
}

#[test]
fn golden_fixtures_through_the_cli() {
    let seg = Seg::new();
    let mut checked = 0;
    for name in ["deep_mixed", "decorated", "match_case", "nested_classes"] {
        if checked == 2 {
            break;
        }
        if check_fixture(&seg, name) {
            checked += 1;
        }
    }
    if checked == 0 {
        eprintln!("no golden fixtures present; nothing compared");
    }
    // The cached answers are the same.
    for name in ["deep_mixed", "decorated", "match_case", "nested_classes"] {
        if seg.root.join(format!("{name}.py")).exists() {
            let json = seg.module(name).ok();
            assert_eq!(json["cache_status"], "hit");
            let (_, expected) = cli_support::fixture(name).unwrap();
            assert_eq!(json["symbols"], expected["symbols"]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ast symbols: error codes

#[test]
fn error_invalid_uri() {
    let seg = Seg::new();
    seg.write("a.py", "");
    for uri in [
        "not-a-uri",
        "sym://python/mod/",
        "sym://python/mod/a/../b",
        "sym://python/mod/a#B",
    ] {
        let message = seg.symbols(uri, &[]).error("INVALID_URI");
        assert!(message.starts_with("invalid URI"), "{message}");
    }
}

#[test]
fn error_file_not_found() {
    let seg = Seg::new();
    let message = seg.module("does.not.exist").error("FILE_NOT_FOUND");
    assert!(message.contains("does/not/exist.py"), "{message}");
}

#[test]
fn error_segment_not_found() {
    let seg = Seg::new();
    let missing = seg.base.join("no-such-segment");
    let out = seg.run([
        "ast",
        "symbols",
        "sym://python/mod/a",
        "--segment",
        missing.to_str().unwrap(),
    ]);
    let message = out.error("SEGMENT_NOT_FOUND");
    assert!(message.contains("no-such-segment"), "{message}");
    let file = seg.write("plain.txt", "not a directory");
    let out = seg.run([
        "ast",
        "symbols",
        "sym://python/mod/a",
        "--segment",
        file.to_str().unwrap(),
    ]);
    out.error("SEGMENT_NOT_FOUND");
}

#[test]
fn error_not_python() {
    let seg = Seg::new();
    std::fs::create_dir_all(seg.root.join("x.py")).unwrap();
    let message = seg.module("x").error("NOT_PYTHON");
    assert!(message.contains("directory"), "{message}");
    seg.write("blob.py", b"\x7fELF\x02\x01\x01\x00\x00\x00binary");
    let message = seg.module("blob").error("NOT_PYTHON");
    assert!(message.contains("NUL"), "{message}");
}

#[test]
fn error_too_large() {
    let seg = Seg::new();
    seg.write("big.py", "def f():\n    return 1\n".repeat(10));
    let out = seg.symbols_env(
        "sym://python/mod/big",
        &[],
        &[("TRIFECTA_MAX_FILE_BYTES", "64")],
    );
    let message = out.error("TOO_LARGE");
    assert!(message.contains("64"), "names the limit: {message}");
    // Under a larger cap the same file answers.
    let out = seg.symbols_env(
        "sym://python/mod/big",
        &[],
        &[("TRIFECTA_MAX_FILE_BYTES", "100000")],
    );
    assert_eq!(out.ok()["symbols"].as_array().unwrap().len(), 10);
}

#[test]
fn error_symbol_not_found() {
    let seg = Seg::new();
    seg.write("mod.py", MODULE);
    let message = seg
        .symbols("sym://python/type/mod#Missing", &[])
        .error("SYMBOL_NOT_FOUND");
    assert!(message.contains("Missing"), "{message}");
}

#[test]
fn error_invalid_config() {
    let seg = Seg::new();
    seg.write("a.py", "");
    let out = seg.symbols_env(
        "sym://python/mod/a",
        &[],
        &[("TRIFECTA_AST_PERSIST", "maybe")],
    );
    let message = out.error("INVALID_CONFIG");
    assert!(message.contains("TRIFECTA_AST_PERSIST"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// ast symbols: cache status and miss reasons

/// cold -> hit -> key miss (new file) -> stale (edited file) -> hit, with persistence chosen by
/// `extra` arguments and `env`.
fn persistent_sequence(extra: &[&str], env: &[(&str, &str)]) {
    let seg = Seg::new();
    seg.write("a.py", "def a():\n    pass\n");
    seg.write("b.py", "def b():\n    pass\n");
    let call = |module: &str| {
        seg.symbols_env(format!("sym://python/mod/{module}"), extra, env)
            .ok()
    };

    let cold = call("a");
    assert_eq!(
        cache_outcome(&cold),
        ("miss".into(), "cold_cache_db_missing".into())
    );
    assert_eq!(cold["cache_db_path"], seg.db_path().display().to_string());
    assert!(
        seg.db_path().is_file(),
        "the database exists after the first call"
    );

    let hit = call("a");
    assert_eq!(cache_outcome(&hit), ("hit".into(), "cache_hit".into()));
    assert_eq!(hit["cache_key"], cold["cache_key"]);

    let other = call("b");
    assert_eq!(cache_outcome(&other), ("miss".into(), "key_miss".into()));

    seg.write("a.py", "def a():\n    pass\n\n\ndef a2():\n    pass\n");
    let stale = call("a");
    assert_eq!(cache_outcome(&stale), ("stale".into(), "stale".into()));
    assert_ne!(stale["cache_key"], cold["cache_key"]);
    assert_eq!(
        symbol_rows(&stale),
        [row("function", "a", 1, 2), row("function", "a2", 5, 6)]
    );

    let again = call("a");
    assert_eq!(cache_outcome(&again), ("hit".into(), "cache_hit".into()));
    assert_eq!(again["cache_key"], stale["cache_key"]);
}

#[test]
fn miss_reasons_with_persist_flag() {
    persistent_sequence(&["--persist-cache"], &[]);
}

#[test]
fn miss_reasons_with_persist_env() {
    persistent_sequence(&[], &[("TRIFECTA_AST_PERSIST", "1")]);
}

#[test]
fn miss_reasons_by_default() {
    persistent_sequence(&[], &[]);
}

#[test]
fn persist_flag_overrides_env() {
    persistent_sequence(&["--persist-cache"], &[("TRIFECTA_AST_PERSIST", "0")]);
}

fn ephemeral(extra: &[&str], env: &[(&str, &str)]) {
    let seg = Seg::new();
    seg.write("a.py", "def a():\n    pass\n");
    for _ in 0..2 {
        let json = seg.symbols_env("sym://python/mod/a", extra, env).ok();
        assert_eq!(
            cache_outcome(&json),
            ("miss".into(), "ephemeral_cache".into())
        );
        assert_eq!(json["cache_db_path"], Value::Null);
        assert_eq!(symbol_rows(&json), [row("function", "a", 1, 2)]);
    }
    assert!(!seg.db_path().exists(), "no database without persistence");
    for sidecar in seg.db_sidecars() {
        assert!(!sidecar.exists(), "{} exists", sidecar.display());
    }
    // ctx search without persistence creates no database either.
    let mut cmd = seg.cmd();
    cmd.args(["ctx", "search", "-q", "aa", "--json", "-s"])
        .arg(&seg.root)
        .args(extra);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let search = Seg::run_cmd(&mut cmd).ok();
    assert_eq!(search["summary"]["cache_hits"], 0);
    assert!(
        !seg.db_path().exists(),
        "no database after ctx search without persistence"
    );
}

#[test]
fn ephemeral_with_no_persist_flag() {
    ephemeral(&["--no-persist-cache"], &[]);
}

#[test]
fn ephemeral_with_env() {
    ephemeral(&[], &[("TRIFECTA_AST_PERSIST", "0")]);
}

#[test]
fn no_persist_flag_overrides_env() {
    ephemeral(&["--no-persist-cache"], &[("TRIFECTA_AST_PERSIST", "1")]);
}

#[test]
fn persist_flags_conflict() {
    let seg = Seg::new();
    seg.write("a.py", "");
    let out = seg.symbols(
        "sym://python/mod/a",
        &["--persist-cache", "--no-persist-cache"],
    );
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("cannot be used with"), "{out:?}");
}

#[test]
fn lock_timeout_still_answers() {
    let seg = Seg::new();
    seg.write("a.py", "def a():\n    pass\n");
    seg.write("b.py", "class B:\n    def m(self):\n        pass\n");
    seg.module("a").ok();
    let lock = CacheLock::new(seg.lock_path());
    let guard = lock
        .acquire(LockMode::Exclusive, Duration::from_secs(10))
        .expect("hold the cache lock");
    let json = seg.module("b").ok();
    assert_eq!(cache_outcome(&json), ("miss".into(), "lock_timeout".into()));
    assert_eq!(
        symbol_rows(&json),
        [row("class", "B", 1, 3), row("method", "B.m", 2, 3)]
    );
    drop(guard);
    // Nothing was written under the timeout; the cache works normally afterwards.
    let after = seg.module("b").ok();
    assert_eq!(cache_outcome(&after), ("miss".into(), "key_miss".into()));
    assert_eq!(after["cache_key"], json["cache_key"]);
    assert_eq!(seg.module("b").ok()["cache_status"], "hit");
    assert_eq!(seg.cache("check", &[]).code, 0);
}

#[test]
fn corrupt_database_is_recovered() {
    let seg = Seg::new();
    seg.write("a.py", "def a():\n    pass\n");
    seg.module("a").ok();
    corrupt_database(&seg);
    let json = seg.module("a").ok();
    assert_eq!(
        cache_outcome(&json),
        ("miss".into(), "corruption_recovered".into())
    );
    assert_eq!(symbol_rows(&json), [row("function", "a", 1, 2)]);
    assert_eq!(seg.module("a").ok()["cache_status"], "hit");
    assert_eq!(seg.cache("check", &[]).code, 0);
}

#[test]
fn two_processes_miss_then_hit() {
    let seg = Seg::new();
    seg.write("pkg/__init__.py", "");
    seg.write("pkg/mod.py", MODULE);
    let first = seg.module("pkg.mod").ok();
    let second = seg.module("pkg.mod").ok();
    assert_eq!(first["cache_status"], "miss");
    assert_eq!(second["cache_status"], "hit");
    assert_eq!(first["cache_key"], second["cache_key"]);
    assert_eq!(first["symbols"], second["symbols"]);
    assert_eq!(first["parse_errors"], second["parse_errors"]);
    assert_eq!(first["file_rel"], second["file_rel"]);
}

// ---------------------------------------------------------------------------------------------
// cache stats | check | gc | clear

#[test]
fn cache_stats_from_another_directory() {
    let seg = Seg::new();
    seg.write("a.py", MODULE);
    seg.module("a").ok();
    seg.module("a").ok();
    let elsewhere = seg.base.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let mut cmd = seg.cmd();
    cmd.current_dir(&elsewhere)
        .args(["cache", "stats", "--json", "--segment"])
        .arg(&seg.root);
    let json = Seg::run_cmd(&mut cmd).ok();
    assert_eq!(json["exists"], true);
    assert_eq!(json["db_path"], seg.db_path().display().to_string());
    assert!(json["stats"]["entries"].as_u64().unwrap() >= 1, "{json}");
    assert!(json["stats"]["hits"].as_u64().unwrap() >= 1, "{json}");
    assert!(
        !elsewhere.join(".trifecta").exists(),
        "nothing is created in the working directory"
    );
    // A relative --segment is resolved against the working directory.
    let mut cmd = seg.cmd();
    cmd.current_dir(&elsewhere)
        .args(["cache", "stats", "--json", "--segment", "../seg"]);
    let json = Seg::run_cmd(&mut cmd).ok();
    assert!(json["stats"]["entries"].as_u64().unwrap() >= 1, "{json}");
}

#[test]
fn cache_commands_text_and_json() {
    let seg = Seg::new();
    seg.write("a.py", MODULE);
    seg.write("b.py", "def b():\n    pass\n");
    seg.module("a").ok();
    seg.module("b").ok();
    seg.module("a").ok();

    let stats = seg.cache("stats", &[]);
    assert_eq!(stats.code, 0, "{stats:?}");
    assert!(stats.stdout.contains("entries"), "{stats:?}");
    assert!(
        stats.stdout.contains(&seg.db_path().display().to_string()),
        "{stats:?}"
    );
    let json = seg.cache("stats", &["--json"]).ok();
    let stats = &json["stats"];
    assert_eq!(stats["entries"], 2, "{json}");
    assert!(stats["hits"].as_u64().unwrap() >= 1);
    assert!(stats["misses"].as_u64().unwrap() >= 2);
    for field in [
        "bytes",
        "writes",
        "evictions",
        "hit_rate",
        "db_bytes",
        "wal_bytes",
    ] {
        assert!(stats[field].is_number(), "stats.{field}: {json}");
    }

    let check = seg.cache("check", &[]);
    assert_eq!(check.code, 0, "{check:?}");
    assert!(check.stdout.contains("ok"), "{check:?}");
    let json = seg.cache("check", &["--json"]).ok();
    assert_eq!(json["result"], "ok");

    let gc = seg.cache("gc", &[]);
    assert_eq!(gc.code, 0, "{gc:?}");
    assert!(gc.stdout.contains("removed"), "{gc:?}");
    let json = seg.cache("gc", &["--json"]).ok();
    assert_eq!(json["expired"], 0, "fresh entries are kept: {json}");
    assert_eq!(json["evicted"], 0, "{json}");
    assert_eq!(seg.cache("stats", &["--json"]).ok()["stats"]["entries"], 2);

    let clear = seg.cache("clear", &["--json"]).ok();
    assert_eq!(clear["removed"], 2, "{clear}");
    let json = seg.cache("stats", &["--json"]).ok();
    assert_eq!(json["exists"], false, "{json}");

    seg.module("a").ok();
    let clear = seg.cache("clear", &[]);
    assert_eq!(clear.code, 0, "{clear:?}");
    assert!(clear.stdout.contains("cleared"), "{clear:?}");
}

#[test]
fn cache_clear_removes_db_wal_and_shm() {
    let seg = Seg::new();
    seg.write("a.py", MODULE);
    seg.module("a").ok();
    assert!(seg.db_path().exists());
    // A reader stays connected, as another process would, so WAL and SHM exist during the clear
    // whatever the cache does when it closes.
    let reader = rusqlite::Connection::open(seg.db_path()).expect("open db");
    reader
        .query_row("PRAGMA journal_mode", [], |row| row.get::<_, String>(0))
        .expect("journal mode");
    reader
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| {
            row.get::<_, i64>(0)
        })
        .expect("read");
    assert!(
        seg.db_sidecars().iter().all(|p| p.exists()),
        "WAL and SHM exist before the clear"
    );
    seg.cache("clear", &["--json"]).ok();
    assert!(!seg.db_path().exists(), "database removed");
    for sidecar in seg.db_sidecars() {
        assert!(!sidecar.exists(), "{} removed", sidecar.display());
    }
    drop(reader);
    // The next call starts cold again.
    let json = seg.module("a").ok();
    assert_eq!(
        cache_outcome(&json),
        ("miss".into(), "cold_cache_db_missing".into())
    );
}

#[test]
fn cache_check_fails_on_corruption_and_repairs() {
    let seg = Seg::new();
    seg.write("a.py", MODULE);
    seg.module("a").ok();
    corrupt_database(&seg);

    let out = seg.cache("check", &[]);
    assert_ne!(out.code, 0, "a corrupt database fails the check: {out:?}");
    assert!(out.stdout.contains("FAILED"), "{out:?}");
    let out = seg.cache("check", &["--json"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["status"], "corrupt");
    assert_eq!(out.json()["repaired"], false);

    let out = seg.cache("check", &["--repair", "--json"]);
    assert_eq!(out.code, 0, "repair succeeds: {out:?}");
    let json = out.json();
    assert_eq!(json["repaired"], true, "{json}");
    let quarantined = json["quarantined_to"]
        .as_str()
        .expect("quarantine file named");
    let quarantined = seg
        .cache_dir()
        .join(quarantined.rsplit('/').next().unwrap());
    assert!(
        quarantined.exists(),
        "quarantined copy kept at {}",
        quarantined.display()
    );

    let out = seg.cache("check", &[]);
    assert_eq!(out.code, 0, "check passes after the repair: {out:?}");
    let json = seg.module("a").ok();
    assert_eq!(json["cache_status"], "miss");
    assert_eq!(seg.module("a").ok()["cache_status"], "hit");
}

#[test]
fn cache_check_repair_text() {
    let seg = Seg::new();
    seg.write("a.py", MODULE);
    seg.module("a").ok();
    corrupt_database(&seg);
    let out = seg.cache("check", &["--repair"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("quarantined"), "{out:?}");
    assert_eq!(seg.cache("check", &[]).code, 0);
}

#[test]
fn cache_commands_without_database() {
    let seg = Seg::new();
    for sub in ["stats", "check", "gc", "clear"] {
        let json = seg.cache(sub, &["--json"]).ok();
        assert_eq!(json["exists"], false, "{sub}: {json}");
        let text = seg.cache(sub, &[]);
        assert_eq!(text.code, 0, "{sub}: {text:?}");
        assert!(text.stdout.contains("no cache database"), "{sub}: {text:?}");
    }
    assert!(
        !seg.db_path().exists(),
        "maintenance commands do not create a database"
    );
}

#[test]
fn cache_commands_missing_segment() {
    let seg = Seg::new();
    let missing = seg.base.join("missing");
    for sub in ["stats", "check", "gc", "clear"] {
        let out = seg.run([
            "cache",
            sub,
            "--json",
            "--segment",
            missing.to_str().unwrap(),
        ]);
        out.error("SEGMENT_NOT_FOUND");
        let out = seg.run(["cache", sub, "--segment", missing.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(out.stderr.contains("SEGMENT_NOT_FOUND"), "{out:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Telemetry

fn events_named<'a>(events: &'a [Value], cmd: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["cmd"] == cmd).collect()
}

#[test]
fn telemetry_ast_symbols_event() {
    let seg = Seg::new();
    seg.write("a.py", MODULE);
    seg.module("a").ok();
    seg.module("a").ok();
    seg.module("missing").error("FILE_NOT_FOUND");
    let events = seg.events();
    let symbols = events_named(&events, "ast.symbols");
    assert_eq!(symbols.len(), 3, "{events:#?}");
    for event in &symbols {
        assert!(
            event["timing_us"].as_u64().unwrap() > 0,
            "real timing: {event}"
        );
        assert!(event["timing_ms"].as_u64().unwrap() >= 1, "{event}");
        assert!(event["pid"].as_u64().unwrap() > 0, "{event}");
        assert_eq!(event["segment_id"].as_str().unwrap().len(), 8, "{event}");
        assert!(event["ts"].is_string(), "{event}");
    }
    assert_eq!(symbols[0]["args"]["uri"], "sym://python/mod/a");
    assert_eq!(symbols[0]["result"]["status"], "ok");
    assert_eq!(symbols[0]["result"]["cache_status"], "miss");
    assert_eq!(symbols[0]["result"]["symbols"], 5);
    assert_eq!(symbols[1]["result"]["cache_status"], "hit");
    assert_eq!(symbols[1]["result"]["miss_reason"], "cache_hit");
    assert_eq!(symbols[2]["result"]["status"], "error");
    assert_eq!(symbols[2]["result"]["error_code"], "FILE_NOT_FOUND");
    // No absolute path of the machine leaks into the events.
    let raw = std::fs::read_to_string(seg.telemetry_dir().join("events.jsonl")).unwrap();
    assert!(
        !raw.contains(&seg.base.display().to_string()),
        "absolute path in telemetry"
    );
}

#[test]
fn telemetry_ctx_search_event() {
    let seg = Seg::new();
    seg.write("a.py", MODULE);
    seg.search("parser", &[]);
    let events = seg.events();
    let search = events_named(&events, "ctx.search");
    assert_eq!(search.len(), 1, "{events:#?}");
    let event = search[0];
    assert!(
        event["timing_us"].as_u64().unwrap() > 0,
        "real timing: {event}"
    );
    assert_eq!(event["result"]["status"], "ok");
    assert_eq!(event["args"]["query_chars"], 6);
    assert!(event["result"]["results"].as_u64().unwrap() >= 1, "{event}");
}

#[test]
fn telemetry_level_full_and_explicit_dir() {
    let seg = Seg::new();
    seg.write("a.py", MODULE);
    let dir = seg.base.join("events-elsewhere");
    let out = seg.symbols_env(
        "sym://python/mod/a",
        &["--telemetry", "full"],
        &[
            ("TRIFECTA_TELEMETRY_DIR", dir.to_str().unwrap()),
            ("TRIFECTA_RUN_ID", "contract-run"),
        ],
    );
    out.ok();
    assert!(
        !seg.telemetry_dir().exists(),
        "the environment redirects telemetry"
    );
    let text = std::fs::read_to_string(dir.join("events.jsonl")).expect("events in the chosen dir");
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let symbols = events_named(&events, "ast.symbols");
    assert_eq!(symbols.len(), 1);
    assert_eq!(symbols[0]["run_id"], "contract-run");
    assert!(symbols[0]["x"].is_object());
}

#[test]
fn telemetry_off_writes_nothing() {
    let seg = Seg::new();
    seg.write("a.py", MODULE);
    seg.symbols("sym://python/mod/a", &["--telemetry", "off"])
        .ok();
    seg.symbols("sym://python/mod/missing", &["--telemetry", "off"])
        .error("FILE_NOT_FOUND");
    let mut cmd = seg.cmd();
    cmd.args(["ctx", "search", "-q", "parser", "--telemetry", "off", "-s"])
        .arg(&seg.root);
    assert_eq!(Seg::run_cmd(&mut cmd).code, 0);
    assert!(
        !seg.root.join("_ctx").exists(),
        "no telemetry directory with --telemetry off"
    );
}

#[test]
fn telemetry_env_off_writes_nothing() {
    let seg = Seg::new();
    seg.write("a.py", MODULE);
    let off = [("TRIFECTA_NO_TELEMETRY", "1")];
    seg.symbols_env("sym://python/mod/a", &[], &off).ok();
    seg.symbols_env("sym://python/mod/a", &["--telemetry", "full"], &off)
        .ok();
    let mut cmd = seg.cmd();
    cmd.args(["ctx", "search", "-q", "parser", "-s"])
        .arg(&seg.root)
        .env(off[0].0, off[0].1);
    assert_eq!(Seg::run_cmd(&mut cmd).code, 0);
    assert!(
        !seg.root.join("_ctx").exists(),
        "no telemetry directory with TRIFECTA_NO_TELEMETRY=1"
    );
}

#[test]
fn telemetry_level_is_validated() {
    let seg = Seg::new();
    seg.write("a.py", "");
    let out = seg.symbols("sym://python/mod/a", &["--telemetry", "verbose"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("unknown telemetry level"), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// ctx search

/// A segment where `parser` is a class name in one file and only body text in another, and
/// `tokenizer` a Markdown title in one file and only body text in another.
fn search_segment() -> Seg {
    let seg = Seg::new();
    seg.write(
        "named.py",
        "class Parser:\n    def run(self):\n        pass\n",
    );
    let body: String = (0..20)
        .map(|i| format!("x{i} = 'the parser reads line {i}'\n"))
        .collect();
    seg.write("body.py", format!("def unrelated():\n    pass\n{body}"));
    seg.write("docs/title.md", "# Tokenizer guide\n\nHow it works.\n");
    let body: String = (0..20)
        .map(|i| format!("The tokenizer splits text, note {i}.\n"))
        .collect();
    seg.write("docs/body.md", format!("# Overview\n\n{body}"));
    seg
}

fn results(json: &Value) -> &Vec<Value> {
    json["results"].as_array().expect("results array")
}

#[test]
fn search_ranks_name_above_body() {
    let seg = search_segment();
    let json = seg.search("parser", &["--json"]).ok();
    let results = results(&json);
    assert_eq!(results[0]["match"], "name", "{json}");
    assert_eq!(results[0]["name"], "Parser");
    assert_eq!(results[0]["file_rel"], "named.py");
    let body = results
        .iter()
        .find(|r| r["match"] == "body")
        .expect("a body match");
    assert_eq!(body["file_rel"], "body.py");
    let lowest_name = results
        .iter()
        .filter(|r| r["match"] == "name")
        .map(|r| r["score"].as_u64().unwrap())
        .min()
        .unwrap();
    assert!(lowest_name > body["score"].as_u64().unwrap(), "{json}");
}

#[test]
fn search_body_match_is_case_insensitive_and_points_at_the_first_line() {
    let seg = Seg::new();
    seg.write(
        "notes.py",
        "a = 1\nb = 2\n# The TOKENIZER is Ünïcode-aware\nc = 'tokenizer'\n",
    );
    seg.write("guide.md", "Intro.\n\nSee the Tokenizer.\n");
    let json = seg.search("Tokenizer", &["--json"]).ok();
    let results = results(&json);
    assert_eq!(results.len(), 2, "{json}");
    let python = results
        .iter()
        .find(|r| r["file_rel"] == "notes.py")
        .unwrap();
    assert_eq!(python["match"], "body");
    assert_eq!(python["line"], 3);
    assert_eq!(python["score"], 2, "two matching lines");
    let markdown = results
        .iter()
        .find(|r| r["file_rel"] == "guide.md")
        .unwrap();
    assert_eq!(markdown["line"], 3);
    let json = seg.search("ünïcode", &["--json"]).ok();
    assert_eq!(json["results"][0]["line"], 3, "{json}");
}

#[test]
fn search_ranks_title_above_body() {
    let seg = search_segment();
    let json = seg.search("tokenizer", &["--json"]).ok();
    let results = results(&json);
    assert_eq!(results[0]["match"], "title", "{json}");
    assert_eq!(results[0]["kind"], "heading");
    assert_eq!(results[0]["name"], "Tokenizer guide");
    assert_eq!(results[0]["file_rel"], "docs/title.md");
    assert_eq!(results[0]["line"], 1);
    let body = results
        .iter()
        .find(|r| r["match"] == "body")
        .expect("a body match");
    assert_eq!(body["file_rel"], "docs/body.md");
    assert!(
        results[0]["score"].as_u64() > body["score"].as_u64(),
        "{json}"
    );
}

#[test]
fn search_json_shape() {
    let seg = search_segment();
    let json = seg.search("parser", &["--json"]).ok();
    assert_eq!(
        keys(&json),
        ["query", "results", "status", "summary", "warnings"]
    );
    assert_eq!(json["query"], "parser");
    for result in results(&json) {
        assert_eq!(
            keys(result),
            [
                "file_rel", "kind", "line", "match", "name", "qualname", "score"
            ],
            "{result}"
        );
    }
    let summary = &json["summary"];
    assert_eq!(
        keys(summary),
        [
            "cache_hits",
            "cache_misses",
            "files_scanned",
            "files_skipped",
            "matches"
        ]
    );
    assert_eq!(summary["files_scanned"], 4);
    assert_eq!(summary["files_skipped"], 0);
    assert_eq!(
        summary["cache_misses"], 2,
        "two Python files parsed on the first search"
    );
    assert_eq!(summary["matches"], results(&json).len());
}

#[test]
fn search_text_output() {
    let seg = search_segment();
    let out = seg.search("parser", &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.len() >= 2, "{out:?}");
    assert!(lines[0].contains("class"), "{out:?}");
    assert!(lines[0].contains("named.py:1"), "{out:?}");
    assert!(lines[0].contains("Parser"), "{out:?}");
    assert!(lines.iter().any(|l| l.contains("body.py")), "{out:?}");
    assert!(
        serde_json::from_str::<Value>(&out.stdout).is_err(),
        "text, not JSON"
    );
    let none = seg.search("zzqqxx", &[]);
    assert_eq!(none.code, 0, "{none:?}");
    assert!(none.stdout.contains("no matches"), "{none:?}");
}

#[test]
fn search_limit() {
    let seg = Seg::new();
    let source: String = (0..6)
        .map(|i| format!("def handler_{i}():\n    pass\n\n"))
        .collect();
    seg.write("handlers.py", source);
    let json = seg.search("handler", &["--json", "-l", "2"]).ok();
    assert_eq!(results(&json).len(), 2, "{json}");
    assert_eq!(json["summary"]["matches"], 6);
    let json = seg.search("handler", &["--json", "--limit", "100"]).ok();
    assert_eq!(results(&json).len(), 6);
    let out = seg.search("handler", &["-l", "1"]);
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    let out = seg.search("handler", &["-l", "0"]);
    assert_ne!(out.code, 0, "limit 0 is refused: {out:?}");
}

#[test]
fn search_warm_parses_nothing() {
    let seg = search_segment();
    for i in 0..20 {
        seg.write(
            &format!("more/m{i}.py"),
            format!("def f{i}():\n    return 'parser'\n"),
        );
    }
    let cold = seg.search("parser", &["--json"]).ok();
    assert_eq!(cold["summary"]["cache_misses"], 22, "{cold}");
    let warm = seg.search("parser", &["--json"]).ok();
    assert_eq!(warm["summary"]["cache_misses"], 0, "{warm}");
    assert_eq!(warm["summary"]["cache_hits"], 22, "{warm}");
    assert_eq!(warm["results"], cold["results"]);
    // ast symbols shares the cache with ctx search.
    assert_eq!(seg.module("named").ok()["cache_status"], "hit");
}

#[test]
fn search_rejects_short_queries() {
    let seg = search_segment();
    for query in ["x", "", "   ", " y "] {
        let out = seg.search(query, &[]);
        assert_eq!(out.code, 1, "query {query:?}: {out:?}");
        assert!(out.stderr.contains("INVALID_QUERY"), "{out:?}");
        assert!(
            out.stderr.contains("at least 2 characters"),
            "clear message: {out:?}"
        );
        assert!(out.stdout.is_empty(), "{out:?}");
        let message = seg.search(query, &["--json"]).error("INVALID_QUERY");
        assert!(message.contains("at least 2 characters"), "{message}");
    }
    seg.search("pa", &["--json"]).ok();
}

#[test]
fn search_rejects_long_queries() {
    let seg = search_segment();
    let query = "parser ".repeat(10_000);
    let out = seg.search(&query, &[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("too long"), "clear message: {out:?}");
    let message = seg.search(&query, &["--json"]).error("INVALID_QUERY");
    assert!(message.contains("too long"), "{message}");
}

#[test]
fn search_missing_segment() {
    let seg = Seg::new();
    let missing = seg.base.join("missing");
    let out = seg.run([
        "ctx",
        "search",
        "-q",
        "parser",
        "--json",
        "-s",
        missing.to_str().unwrap(),
    ]);
    out.error("SEGMENT_NOT_FOUND");
    let out = seg.run([
        "ctx",
        "search",
        "-q",
        "parser",
        "-s",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("SEGMENT_NOT_FOUND"), "{out:?}");
}
