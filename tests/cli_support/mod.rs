//! Helpers shared by the `trifecta` CLI tests (`tests/cli_*.rs`).
//!
//! Every test works on its own temporary segment `<tmp>/seg` and runs the real binary with a
//! clean `TRIFECTA_*` environment, a 30 s timeout and `<tmp>` as working directory. Every run
//! checks that the process exited by itself (no timeout, no signal) and did not panic.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// No command may take longer than this.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Environment variables read by the binary; a test sets the ones it needs explicitly.
const ENV_VARS: [&str; 6] = [
    "TRIFECTA_AST_PERSIST",
    "TRIFECTA_MAX_FILE_BYTES",
    "TRIFECTA_NO_TELEMETRY",
    "TRIFECTA_RUN_ID",
    "TRIFECTA_TELEMETRY_DIR",
    "TRIFECTA_TELEMETRY_MAX_BYTES",
];

/// The keys of a successful `ast symbols` answer, sorted.
pub const SYMBOLS_KEYS: [&str; 10] = [
    "cache_db_path",
    "cache_key",
    "cache_status",
    "file_rel",
    "miss_reason",
    "parse_errors",
    "segment_root",
    "status",
    "symbols",
    "warnings",
];

/// A temporary segment.
pub struct Seg {
    _tmp: TempDir,
    /// The temporary directory (canonical); holds `seg/`.
    pub base: PathBuf,
    /// The segment root (canonical).
    pub root: PathBuf,
}

/// The outcome of one run.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Stdout as one JSON value.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Asserts exit 0 and `status: ok`; returns the JSON.
    pub fn ok(&self) -> Value {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        let json = self.json();
        assert_eq!(json["status"], "ok", "{self:?}");
        json
    }

    /// Asserts exit 1 and the error JSON `{status:"error", error_code, message}` with `code`;
    /// returns the message.
    pub fn error(&self, code: &str) -> String {
        assert_eq!(self.code, 1, "expected exit 1 with {code}: {self:?}");
        let json = self.json();
        let object = json.as_object().expect("error is an object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["error_code", "message", "status"], "{self:?}");
        assert_eq!(json["status"], "error", "{self:?}");
        assert_eq!(json["error_code"], code, "{self:?}");
        let message = json["message"]
            .as_str()
            .expect("message is a string")
            .to_string();
        assert!(!message.trim().is_empty(), "empty message: {self:?}");
        message
    }
}

impl Seg {
    /// A fresh, empty segment.
    pub fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("trifecta-cli-")
            .tempdir()
            .expect("temp dir");
        let base = tmp.path().canonicalize().expect("canonical temp dir");
        let root = base.join("seg");
        std::fs::create_dir_all(&root).expect("segment dir");
        Seg {
            _tmp: tmp,
            base,
            root,
        }
    }

    /// Writes `bytes` to `rel` under the segment (creating directories); returns the path.
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&path, bytes).expect("write file");
        path
    }

    /// `<seg>/.trifecta/cache`.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(".trifecta").join("cache")
    }

    /// The cache database.
    pub fn db_path(&self) -> PathBuf {
        self.cache_dir().join("ast_cache_python.db")
    }

    /// The database's WAL and SHM files.
    pub fn db_sidecars(&self) -> [PathBuf; 2] {
        let db = self.db_path().into_os_string();
        let with = |suffix: &str| {
            let mut path = db.clone();
            path.push(suffix);
            PathBuf::from(path)
        };
        [with("-wal"), with("-shm")]
    }

    /// The cache lock file.
    pub fn lock_path(&self) -> PathBuf {
        self.cache_dir().join("ast_cache_python.lock")
    }

    /// The default telemetry directory.
    pub fn telemetry_dir(&self) -> PathBuf {
        self.root.join("_ctx").join("telemetry")
    }

    /// Every telemetry event written so far (none when the file does not exist).
    pub fn events(&self) -> Vec<Value> {
        let path = self.telemetry_dir().join("events.jsonl");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Vec::new();
        };
        text.lines()
            .map(|line| serde_json::from_str(line).expect("event line is JSON"))
            .collect()
    }

    /// The binary with a clean environment, the timeout and `<tmp>` as working directory.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("trifecta").expect("trifecta binary");
        for var in ENV_VARS {
            cmd.env_remove(var);
        }
        cmd.current_dir(&self.base).timeout(TIMEOUT);
        cmd
    }

    /// Runs `cmd` and checks it ended by itself without a panic.
    pub fn run_cmd(cmd: &mut Command) -> Out {
        let output = cmd.output().expect("spawn trifecta");
        let out = Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            output.status.code().is_some(),
            "timed out or killed by a signal ({}): {out:?}",
            output.status
        );
        assert!(!out.stderr.contains("panicked"), "panic: {out:?}");
        assert!(!out.stdout.contains("panicked"), "panic: {out:?}");
        out
    }

    /// Runs the binary with `args`.
    pub fn run<I, S>(&self, args: I) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::run_cmd(self.cmd().args(args))
    }

    /// Runs the binary with `args` and extra environment variables.
    pub fn run_env<I, S>(&self, args: I, env: &[(&str, &str)]) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.cmd();
        cmd.args(args);
        for (name, value) in env {
            cmd.env(name, value);
        }
        Self::run_cmd(&mut cmd)
    }

    /// `ast symbols <uri> --segment <root> <extra...>`.
    pub fn symbols(&self, uri: impl AsRef<OsStr>, extra: &[&str]) -> Out {
        self.symbols_env(uri, extra, &[])
    }

    /// `ast symbols` with extra environment variables.
    pub fn symbols_env(&self, uri: impl AsRef<OsStr>, extra: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = self.cmd();
        cmd.args(["ast", "symbols"])
            .arg(uri)
            .arg("--segment")
            .arg(&self.root)
            .args(extra);
        for (name, value) in env {
            cmd.env(name, value);
        }
        Self::run_cmd(&mut cmd)
    }

    /// `ast symbols sym://python/mod/<module>`.
    pub fn module(&self, module: &str) -> Out {
        self.symbols(format!("sym://python/mod/{module}"), &[])
    }

    /// `ctx search -q <query> -s <root> <extra...>`.
    pub fn search(&self, query: impl AsRef<OsStr>, extra: &[&str]) -> Out {
        let mut cmd = self.cmd();
        cmd.args(["ctx", "search", "-q"])
            .arg(query)
            .arg("-s")
            .arg(&self.root)
            .args(extra);
        Self::run_cmd(&mut cmd)
    }

    /// `cache <sub> --segment <root> <extra...>`.
    pub fn cache(&self, sub: &str, extra: &[&str]) -> Out {
        let mut cmd = self.cmd();
        cmd.args(["cache", sub])
            .arg("--segment")
            .arg(&self.root)
            .args(extra);
        Self::run_cmd(&mut cmd)
    }
}

/// `(cache_status, miss_reason)` of an `ast symbols` answer.
pub fn cache_outcome(json: &Value) -> (String, String) {
    (
        json["cache_status"]
            .as_str()
            .expect("cache_status")
            .to_string(),
        json["miss_reason"]
            .as_str()
            .expect("miss_reason")
            .to_string(),
    )
}

/// `(kind, qualname, line, end_line)` of every symbol of an answer.
pub fn symbol_rows(json: &Value) -> Vec<(String, String, u64, u64)> {
    json["symbols"]
        .as_array()
        .expect("symbols array")
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().expect("kind").to_string(),
                s["qualname"].as_str().expect("qualname").to_string(),
                s["line"].as_u64().expect("line"),
                s["end_line"].as_u64().expect("end_line"),
            )
        })
        .collect()
}

/// The symbols and parse error count a golden fixture expects.
pub fn fixture(name: &str) -> Option<(Vec<u8>, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/symbols");
    let source = std::fs::read(dir.join(format!("{name}.py"))).ok()?;
    let expected = std::fs::read_to_string(dir.join(format!("{name}.expected.json"))).ok()?;
    Some((
        source,
        serde_json::from_str(&expected).expect("expected JSON"),
    ))
}

/// Copies fixture `name` into the segment as `<name>.py` and checks that the CLI answers
/// exactly the expected symbols and parse error count. False when the fixture is absent.
pub fn check_fixture(seg: &Seg, name: &str) -> bool {
    let Some((source, expected)) = fixture(name) else {
        eprintln!("fixture {name} not present; skipped");
        return false;
    };
    seg.write(&format!("{name}.py"), &source);
    let json = seg.module(name).ok();
    assert_eq!(json["symbols"], expected["symbols"], "fixture {name}");
    assert_eq!(
        json["parse_errors"], expected["parse_errors"],
        "fixture {name}"
    );
    true
}

/// After hostile input: `cache check` passes and a normal module is (still) served from the
/// cache with its symbols.
pub fn assert_cache_healthy(seg: &Seg) {
    let normal = "class Normal:\n    def method(self):\n        return 1\n";
    let path = seg.root.join("normal_module.py");
    if !path.exists() {
        seg.write("normal_module.py", normal);
        seg.module("normal_module").ok();
    }
    let check = seg.cache("check", &["--json"]);
    assert_eq!(check.code, 0, "cache check after hostile input: {check:?}");
    assert_eq!(check.json()["result"], "ok", "{check:?}");
    let json = seg.module("normal_module").ok();
    assert_eq!(cache_outcome(&json), ("hit".into(), "cache_hit".into()));
    assert_eq!(
        symbol_rows(&json),
        [
            ("class".to_string(), "Normal".to_string(), 1, 3),
            ("method".to_string(), "Normal.method".to_string(), 2, 3),
        ]
    );
}
