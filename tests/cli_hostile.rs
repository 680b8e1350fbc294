//! Hostile input for the `trifecta` CLI (issue 3, "Hostile input"): each case gives a clear
//! error with exit 1 or a correct answer, never a panic or a hang (the helpers check both on
//! every run), and leaves the cache healthy: `cache check` passes and a normal module still
//! hits afterwards.

mod cli_support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;

use cli_support::{Seg, assert_cache_healthy, cache_outcome, check_fixture, symbol_rows};
use serde_json::Value;

/// A segment whose normal module is already cached.
fn hostile_seg() -> Seg {
    let seg = Seg::new();
    seg.write(
        "normal_module.py",
        "class Normal:\n    def method(self):\n        return 1\n",
    );
    seg.module("normal_module").ok();
    seg
}

fn row(kind: &str, qualname: &str, line: u64, end_line: u64) -> (String, String, u64, u64) {
    (kind.to_string(), qualname.to_string(), line, end_line)
}

/// Deterministic pseudo-random bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

fn entries(seg: &Seg) -> u64 {
    seg.cache("stats", &["--json"]).ok()["stats"]["entries"]
        .as_u64()
        .unwrap()
}

#[test]
fn binary_file() {
    let seg = hostile_seg();
    let mut bytes = noise(64 * 1024, 1);
    bytes[10] = 0;
    seg.write("blob.py", &bytes);
    seg.write(
        "elf.py",
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00",
    );
    for module in ["blob", "elf"] {
        let message = seg.module(module).error("NOT_PYTHON");
        assert!(message.contains("binary"), "{message}");
    }
    // Search skips them.
    let json = seg.search("normal", &["--json"]).ok();
    assert_eq!(json["summary"]["files_skipped"], 2, "{json}");
    assert_eq!(json["results"][0]["name"], "Normal");
    assert_cache_healthy(&seg);
}

#[test]
fn binary_without_nul_bytes() {
    let seg = hostile_seg();
    let bytes: Vec<u8> = noise(32 * 1024, 2).into_iter().map(|b| b | 0x80).collect();
    seg.write("highbits.py", &bytes);
    let first = seg.module("highbits").ok();
    let second = seg.module("highbits").ok();
    assert_eq!(second["cache_status"], "hit");
    assert_eq!(first["cache_key"], second["cache_key"]);
    assert_cache_healthy(&seg);
}

#[test]
fn nul_bytes() {
    let seg = hostile_seg();
    seg.write("nul.py", b"def f():\n\x00    pass\n");
    let message = seg.module("nul").error("NOT_PYTHON");
    assert!(message.contains("NUL"), "{message}");
    seg.write("nul_first.py", b"\x00def f(): pass\n");
    seg.module("nul_first").error("NOT_PYTHON");
    // A NUL far into the file: a clear error or the symbols around it, never a crash.
    let mut late = b"def before():\n    pass\n".to_vec();
    late.extend(std::iter::repeat_n(b'#', 20_000));
    late.extend(b"\n\x00\ndef after():\n    pass\n");
    seg.write("nul_late.py", &late);
    let out = seg.module("nul_late");
    if out.code == 0 {
        let json = out.ok();
        let names: Vec<String> = symbol_rows(&json).into_iter().map(|r| r.1).collect();
        assert!(names.contains(&"before".to_string()), "{json}");
        assert!(json["parse_errors"].as_u64().unwrap() >= 1, "{json}");
    } else {
        out.error("NOT_PYTHON");
    }
    assert_cache_healthy(&seg);
}

#[test]
fn invalid_utf8() {
    let seg = hostile_seg();
    let source = b"def f():\n    return '\xff\xfe'\n\nclass C:\n    x = b'\xc3\x28'\n".to_vec();
    seg.write("latin.py", &source);
    let first = seg.module("latin").ok();
    assert_eq!(
        symbol_rows(&first),
        [row("function", "f", 1, 2), row("class", "C", 4, 5)]
    );
    let second = seg.module("latin").ok();
    assert_eq!(cache_outcome(&second), ("hit".into(), "cache_hit".into()));
    assert_eq!(
        second["cache_key"], first["cache_key"],
        "same raw bytes, same key"
    );

    // Same raw bytes in another segment: same key (the key hashes the bytes).
    let other = Seg::new();
    other.write("latin.py", &source);
    assert_eq!(other.module("latin").ok()["cache_key"], first["cache_key"]);

    // Different invalid bytes that decode to the same text: a different key.
    let swapped = b"def f():\n    return '\xfe\xff'\n\nclass C:\n    x = b'\xc3\x28'\n".to_vec();
    seg.write("latin.py", &swapped);
    let changed = seg.module("latin").ok();
    assert_ne!(changed["cache_key"], first["cache_key"]);
    assert_eq!(changed["cache_status"], "stale");
    seg.write("latin.py", &source);
    assert_eq!(seg.module("latin").ok()["cache_key"], first["cache_key"]);

    // Invalid bytes inside an identifier: an answer, no crash.
    seg.write(
        "ident.py",
        b"def caf\xe9():\n    pass\n\ndef ok():\n    pass\n",
    );
    let json = seg.module("ident").ok();
    let names: Vec<String> = symbol_rows(&json).into_iter().map(|r| r.1).collect();
    assert!(names.contains(&"ok".to_string()), "{json}");
    assert_cache_healthy(&seg);
}

#[test]
fn bom() {
    let seg = hostile_seg();
    if !check_fixture(&seg, "bom") {
        seg.write("bom.py", b"\xef\xbb\xbfdef f():\n    pass\n");
        assert_eq!(
            symbol_rows(&seg.module("bom").ok()),
            [row("function", "f", 1, 2)]
        );
    }
    seg.write("bom_only.py", b"\xef\xbb\xbf");
    assert_eq!(seg.module("bom_only").ok()["symbols"], Value::Array(vec![]));
    seg.write(
        "bom_crlf.py",
        b"\xef\xbb\xbfclass A:\r\n    def m(self):\r\n        pass\r\n",
    );
    assert_eq!(
        symbol_rows(&seg.module("bom_crlf").ok()),
        [row("class", "A", 1, 3), row("method", "A.m", 2, 3)]
    );
    assert_cache_healthy(&seg);
}

#[test]
fn crlf() {
    let seg = hostile_seg();
    for name in ["crlf", "cr_only", "mixed_line_endings"] {
        check_fixture(&seg, name);
    }
    seg.write(
        "win.py",
        b"class W:\r\n\r\n    def m(self):\r\n        pass\r\n\r\ndef g():\r\n    pass\r\n",
    );
    assert_eq!(
        symbol_rows(&seg.module("win").ok()),
        [
            row("class", "W", 1, 4),
            row("method", "W.m", 3, 4),
            row("function", "g", 6, 7)
        ]
    );
    assert_cache_healthy(&seg);
}

#[test]
fn tabs() {
    let seg = hostile_seg();
    check_fixture(&seg, "tabs");
    seg.write(
        "tabbed.py",
        "class T:\n\tdef m(self):\n\t\tpass\n\tclass I:\n\t\tdef d(self):\n\t\t\tpass\n",
    );
    assert_eq!(
        symbol_rows(&seg.module("tabbed").ok()),
        [
            row("class", "T", 1, 6),
            row("method", "T.m", 2, 3),
            row("class", "T.I", 4, 6),
            row("method", "T.I.d", 5, 6),
        ]
    );
    assert_cache_healthy(&seg);
}

#[test]
fn huge_file() {
    let seg = hostile_seg();
    let before = entries(&seg);
    seg.write("big.py", "def f():\n    return 1\n".repeat(1000));
    let cap = [("TRIFECTA_MAX_FILE_BYTES", "4096")];
    let message = seg
        .symbols_env("sym://python/mod/big", &[], &cap)
        .error("TOO_LARGE");
    assert!(message.contains("4096"), "names the limit: {message}");
    assert!(message.contains("big.py"), "names the file: {message}");
    // The default cap (8 MiB) applies without the variable.
    let mut huge = "x = 1\n".repeat(9 * 1024 * 1024 / 6);
    huge.push_str("def tail():\n    pass\n");
    seg.write("huge.py", huge);
    seg.module("huge").error("TOO_LARGE");
    assert_eq!(entries(&seg), before, "nothing is cached for refused files");
    // An unusable cap value falls back to the default.
    let out = seg.symbols_env(
        "sym://python/mod/big",
        &[],
        &[("TRIFECTA_MAX_FILE_BYTES", "lots")],
    );
    assert_eq!(out.ok()["symbols"].as_array().unwrap().len(), 1000);
    assert_cache_healthy(&seg);
}

#[test]
fn five_mb_line() {
    let seg = hostile_seg();
    let mut source = String::from("x = '");
    source.push_str(&"a".repeat(5 * 1024 * 1024));
    source.push_str("'\nclass After:\n    def m(self):\n        pass\n");
    seg.write("longline.py", &source);
    let json = seg.module("longline").ok();
    assert_eq!(
        symbol_rows(&json),
        [row("class", "After", 2, 4), row("method", "After.m", 3, 4)]
    );
    assert_eq!(json["parse_errors"], 0);
    assert_eq!(seg.module("longline").ok()["cache_status"], "hit");
    assert_cache_healthy(&seg);
}

#[test]
fn nested_parentheses() {
    let seg = hostile_seg();
    let depth = 50_000;
    let balanced = format!(
        "x = {}1{}\ndef after():\n    pass\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    seg.write("parens.py", &balanced);
    let json = seg.module("parens").ok();
    let names: Vec<String> = symbol_rows(&json).into_iter().map(|r| r.1).collect();
    assert!(names.contains(&"after".to_string()), "{json}");
    let unbalanced = format!("def before():\n    pass\nx = {}\n", "(".repeat(depth));
    seg.write("open_parens.py", &unbalanced);
    let json = seg.module("open_parens").ok();
    assert!(json["parse_errors"].as_u64().unwrap() >= 1, "{json}");
    let brackets = format!("y = {}\n", "[{".repeat(depth / 2));
    seg.write("brackets.py", &brackets);
    seg.module("brackets").ok();
    assert_cache_healthy(&seg);
}

#[test]
fn nested_classes_300() {
    let seg = hostile_seg();
    let mut source = String::new();
    for depth in 0..300 {
        source.push_str(&" ".repeat(depth));
        source.push_str(&format!("class C{depth}:\n"));
    }
    source.push_str(&" ".repeat(300));
    source.push_str("pass\n");
    seg.write("deep.py", &source);
    let json = seg.module("deep").ok();
    let rows = symbol_rows(&json);
    assert_eq!(rows.len(), 300);
    let mut qualname = String::new();
    for (depth, (kind, qual, line, end_line)) in rows.iter().enumerate() {
        if depth > 0 {
            qualname.push('.');
        }
        qualname.push_str(&format!("C{depth}"));
        assert_eq!(kind, "class");
        assert_eq!(qual, &qualname);
        assert_eq!(*line, depth as u64 + 1);
        assert_eq!(*end_line, 301);
    }
    assert_eq!(seg.module("deep").ok()["cache_status"], "hit");
    let json = seg.symbols("sym://python/type/deep#C0.C1.C2", &[]).ok();
    assert_eq!(
        json["symbols"].as_array().unwrap().len(),
        298,
        "C2 and C3..C299"
    );
    assert_cache_healthy(&seg);
}

#[test]
fn empty_files() {
    let seg = hostile_seg();
    seg.write("empty.py", "");
    seg.write("blank.py", "\n\n   \n\t\n");
    seg.write("comments.py", "# nothing here\n# at all\n");
    seg.write("pkg/__init__.py", "");
    for module in ["empty", "blank", "comments", "pkg"] {
        let json = seg.module(module).ok();
        assert_eq!(json["symbols"], Value::Array(vec![]), "{module}");
        assert_eq!(json["parse_errors"], 0, "{module}");
        assert_eq!(seg.module(module).ok()["cache_status"], "hit", "{module}");
    }
    assert_ne!(
        seg.module("empty").ok()["cache_key"],
        seg.module("blank").ok()["cache_key"]
    );
    assert_cache_healthy(&seg);
}

#[test]
fn directory_named_like_a_module() {
    let seg = hostile_seg();
    std::fs::create_dir_all(seg.root.join("x.py")).unwrap();
    let message = seg.module("x").error("NOT_PYTHON");
    assert!(message.contains("directory"), "{message}");
    // A package directory with an `__init__.py` directory.
    std::fs::create_dir_all(seg.root.join("pkg/__init__.py")).unwrap();
    let out = seg.module("pkg");
    assert_eq!(out.code, 1, "{out:?}");
    // A directory without `__init__.py` is not a module.
    std::fs::create_dir_all(seg.root.join("plain")).unwrap();
    seg.module("plain").error("FILE_NOT_FOUND");
    let json = seg.search("normal", &["--json"]).ok();
    assert_eq!(json["results"][0]["name"], "Normal");
    assert_cache_healthy(&seg);
}

#[test]
fn symlink_loops() {
    let seg = hostile_seg();
    symlink("loop_b.py", seg.root.join("loop_a.py")).unwrap();
    symlink("loop_a.py", seg.root.join("loop_b.py")).unwrap();
    symlink("self_loop.py", seg.root.join("self_loop.py")).unwrap();
    symlink("dir_b", seg.root.join("dir_a")).unwrap();
    symlink("dir_a", seg.root.join("dir_b")).unwrap();
    symlink(".", seg.root.join("again")).unwrap();
    for module in ["loop_a", "loop_b", "self_loop"] {
        let message = seg.module(module).error("FILE_NOT_FOUND");
        assert!(message.contains("symlink"), "{message}");
    }
    seg.module("dir_a.mod").error("FILE_NOT_FOUND");
    // A link back into the segment resolves to the real file inside it.
    let json = seg.module("again.again.again.normal_module").ok();
    assert_eq!(json["file_rel"], "normal_module.py");
    assert_eq!(json["cache_status"], "hit");
    // The walk does not follow links, so the search ends.
    let json = seg.search("normal", &["--json"]).ok();
    assert_eq!(json["results"].as_array().unwrap().len(), 2, "{json}");
    assert_cache_healthy(&seg);
}

#[test]
fn symlink_leaving_the_segment() {
    let seg = hostile_seg();
    let outside = seg.base.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(
        outside.join("secret.py"),
        "def secret_outside():\n    pass\n",
    )
    .unwrap();
    std::fs::write(
        outside.join("__init__.py"),
        "def secret_init():\n    pass\n",
    )
    .unwrap();
    symlink(outside.join("secret.py"), seg.root.join("escape.py")).unwrap();
    symlink(&outside, seg.root.join("escdir")).unwrap();
    symlink("../outside/secret.py", seg.root.join("relative_escape.py")).unwrap();
    std::fs::create_dir_all(seg.root.join("pkg")).unwrap();
    symlink(
        outside.join("__init__.py"),
        seg.root.join("pkg/__init__.py"),
    )
    .unwrap();
    if std::path::Path::new("/etc/hostname").exists() {
        symlink("/etc/hostname", seg.root.join("hostname.py")).unwrap();
    }
    for module in [
        "escape",
        "escdir.secret",
        "escdir",
        "relative_escape",
        "pkg",
        "hostname",
    ] {
        if module == "hostname" && !seg.root.join("hostname.py").exists() {
            continue;
        }
        let out = seg.module(module);
        let message = out.error("INVALID_URI");
        assert!(
            message.contains("outside the segment"),
            "{module}: {message}"
        );
        assert!(
            !out.stdout.contains("secret_"),
            "{module}: outside content leaked: {out:?}"
        );
    }
    let json = seg.search("secret", &["--json"]).ok();
    assert_eq!(
        json["results"],
        Value::Array(vec![]),
        "search stays inside: {json}"
    );
    assert_cache_healthy(&seg);
}

#[test]
fn dotdot_and_absolute_parts_in_uris() {
    let seg = hostile_seg();
    std::fs::write(seg.base.join("up.py"), "def outside():\n    pass\n").unwrap();
    let uris = [
        "sym://python/mod/..",
        "sym://python/mod/..up",
        "sym://python/mod/...up",
        "sym://python/mod/../up",
        "sym://python/mod/pkg/../../up",
        "sym://python/mod/.up",
        "sym://python/mod/up.",
        "sym://python/mod/a..b",
        "sym://python/mod//etc/passwd",
        "sym://python/mod//tmp",
        "sym://python/mod/~/x",
        "sym://python/mod/C:\\Windows",
        "sym://python/mod/\\\\server\\share",
        "sym://python/mod/%2e%2e/up",
        "sym://python/type/..#X",
        "sym://python/type/up#..",
        "sym://python/type/normal_module#../Normal",
        "sym://python/type//etc/passwd#X",
        "sym://python/mod/normal_module/..",
    ];
    for uri in uris {
        let out = seg.symbols(uri, &[]);
        let message = out.error("INVALID_URI");
        assert!(message.starts_with("invalid URI"), "{uri}: {message}");
        assert!(!out.stdout.contains("\"outside\""), "{uri}: {out:?}");
    }
    assert_cache_healthy(&seg);
}

#[test]
fn missing_segment() {
    let seg = hostile_seg();
    let missing = seg.base.join("nope");
    let file = seg.write("file.txt", "x");
    let missing_str = missing.to_str().unwrap();
    for segment in [missing_str, file.to_str().unwrap(), "/definitely/not/here"] {
        let out = seg.run([
            "ast",
            "symbols",
            "sym://python/mod/normal_module",
            "--segment",
            segment,
        ]);
        out.error("SEGMENT_NOT_FOUND");
    }
    // An empty value is a usage error (clap: exit 2) with a clear message.
    let out = seg.run([
        "ast",
        "symbols",
        "sym://python/mod/normal_module",
        "--segment",
        "",
    ]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("a value is required for '--segment"),
        "{out:?}"
    );
    let out = seg.run(["ctx", "search", "-q", "normal", "--json", "-s", missing_str]);
    out.error("SEGMENT_NOT_FOUND");
    let out = seg.run(["cache", "check", "--json", "--segment", missing_str]);
    out.error("SEGMENT_NOT_FOUND");
    assert!(!missing.exists(), "a missing segment is not created");
    assert_cache_healthy(&seg);
}

#[test]
fn missing_module() {
    let seg = hostile_seg();
    seg.write("pkg/__init__.py", "");
    symlink("nowhere.py", seg.root.join("dangling.py")).unwrap();
    for module in [
        "missing",
        "pkg.missing",
        "missing.deeper.still",
        "normal_module.sub",
        "dangling",
    ] {
        seg.module(module).error("FILE_NOT_FOUND");
    }
    seg.symbols("sym://python/type/missing#X", &[])
        .error("FILE_NOT_FOUND");
    seg.symbols("sym://python/type/normal_module#Missing", &[])
        .error("SYMBOL_NOT_FOUND");
    seg.symbols("sym://python/type/normal_module#Normal.missing", &[])
        .error("SYMBOL_NOT_FOUND");
    assert_cache_healthy(&seg);
}

#[test]
fn malformed_uris() {
    let seg = hostile_seg();
    let long_module = format!("sym://python/mod/{}", "a".repeat(5000));
    let long_dotted = format!("sym://python/mod/{}", vec!["a"; 3000].join("."));
    let mut uris: Vec<String> = [
        "",
        " ",
        "sym",
        "sym:",
        "sym:/",
        "sym://",
        "sym:///",
        "sym://python",
        "sym://python/",
        "sym://python//",
        "sym://python/mod",
        "sym://python/mod/",
        "sym://python/type/",
        "sym://python/type/#",
        "sym://python/type/normal_module",
        "sym://python/type/normal_module#",
        "sym://python/type/#Normal",
        "sym://python/type/normal_module#Normal#x",
        "sym://python/mod/normal_module#Normal",
        "sym://python/class/normal_module",
        "sym://python/MOD/normal_module",
        "sym://Python/mod/normal_module",
        "sym://rust/mod/normal_module",
        "SYM://python/mod/normal_module",
        " sym://python/mod/normal_module",
        "sym://python/mod/normal_module ",
        "sym://python/mod/normal module",
        "sym://python/mod/normal-module",
        "sym://python/mod/1module",
        "sym://python/mod/mod?x=1",
        "sym://python/mod/a\nb",
        "sym://python/mod/a\tb",
        "sym://python/mod/a\u{7f}",
        "sym://python/mod/\u{1F600}",
        "sym://python/mod/a\u{200b}b",
        "http://python/mod/normal_module",
        "file:///etc/passwd",
        "normal_module",
        "normal_module.py",
        "-",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    uris.push(long_module);
    uris.push(long_dotted);
    for uri in &uris {
        let mut cmd = seg.cmd();
        cmd.args(["ast", "symbols", "--segment"])
            .arg(&seg.root)
            .arg("--")
            .arg(uri);
        let out = Seg::run_cmd(&mut cmd);
        let message = out.error("INVALID_URI");
        assert!(
            message.len() < 1000,
            "the message stays short for {:?}: {message}",
            &uri[..uri.len().min(40)]
        );
    }
    // Bytes that are not UTF-8.
    for raw in [
        &b"sym://python/mod/\xff"[..],
        b"\xfe\xff",
        b"sym://python/mod/caf\xe9",
    ] {
        let out = seg.symbols(OsStr::from_bytes(raw), &[]);
        let message = out.error("INVALID_URI");
        assert!(message.contains("UTF-8"), "{message}");
    }
    assert_cache_healthy(&seg);
}

#[test]
fn empty_and_huge_queries() {
    let seg = hostile_seg();
    for query in ["", " ", "\t\n", "a", " a "] {
        let out = seg.search(query, &[]);
        assert_eq!(out.code, 1, "{query:?}: {out:?}");
        assert!(
            out.stderr.contains("too short"),
            "clear message for {query:?}: {out:?}"
        );
        seg.search(query, &["--json"]).error("INVALID_QUERY");
    }
    // Not UTF-8.
    seg.search(OsStr::from_bytes(b"\xff\xfe"), &["--json"])
        .error("INVALID_QUERY");

    // 200 KB: the parser the CLI uses refuses it with a clear message.
    let huge = "q".repeat(200 * 1024);
    let err = trifecta::search::Query::parse(&huge)
        .unwrap_err()
        .to_string();
    assert!(err.contains("too long"), "{err}");
    // Linux refuses one argument over 128 KiB (MAX_ARG_STRLEN) before trifecta starts; if a
    // platform lets it through, the CLI must refuse it cleanly.
    let mut cmd = seg.cmd();
    cmd.args(["ctx", "search", "--json", "-s"])
        .arg(&seg.root)
        .arg("-q")
        .arg(&huge);
    match cmd.output() {
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ArgumentListTooLong, "{err}"),
        Ok(output) => {
            assert_eq!(output.status.code(), Some(1));
            let json: Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(json["error_code"], "INVALID_QUERY");
        }
    }
    // The longest query that fits in one argument: a clear error.
    let biggest = "q".repeat(128 * 1024 - 1);
    let message = seg.search(&biggest, &["--json"]).error("INVALID_QUERY");
    assert!(message.contains("too long"), "{message}");
    assert!(
        message.len() < 200,
        "the message does not echo the query: {message}"
    );
    let out = seg.search(&biggest, &[]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.len() < 200, "{out:?}");
    // Many terms within the limit still work.
    let many_terms = "ab ".repeat(300);
    seg.search(&many_terms, &["--json"]).ok();
    assert_cache_healthy(&seg);
}

#[test]
fn fifo_named_like_a_module() {
    let seg = hostile_seg();
    let path = std::ffi::CString::new(seg.root.join("pipe.py").as_os_str().as_bytes()).unwrap();
    // SAFETY: `path` is a valid NUL-terminated C string.
    let made = unsafe { libc::mkfifo(path.as_ptr(), 0o644) };
    assert_eq!(made, 0, "mkfifo");
    let out = seg.module("pipe");
    assert_eq!(out.code, 1, "{out:?}");
    let code = out.json()["error_code"].as_str().unwrap().to_string();
    assert!(
        ["NOT_PYTHON", "FILE_NOT_FOUND"].contains(&code.as_str()),
        "{out:?}"
    );
    seg.search("normal", &["--json"]).ok();
    assert_cache_healthy(&seg);
}

/// A reader that goes away (`trifecta ... | head -0`): the write fails with EPIPE, which must
/// not become a panic.
#[test]
fn closed_stdout() {
    let seg = hostile_seg();
    let runs: [&[&str]; 4] = [
        &["ast", "symbols", "sym://python/mod/normal_module"],
        &["ctx", "search", "-q", "normal"],
        &["ctx", "search", "-q", "normal", "--json"],
        &["cache", "stats"],
    ];
    for args in runs {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("trifecta"))
            .args(args)
            .current_dir(&seg.root)
            .env_remove("TRIFECTA_AST_PERSIST")
            .env_remove("TRIFECTA_TELEMETRY_DIR")
            .env_remove("TRIFECTA_NO_TELEMETRY")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            output.status.code().is_some(),
            "{args:?}: killed ({})",
            output.status
        );
    }
    assert_cache_healthy(&seg);
}

#[test]
fn search_over_a_hostile_segment() {
    let seg = hostile_seg();
    let mut nul = noise(1000, 3);
    nul[0] = 0;
    seg.write("blob.py", &nul);
    seg.write("latin.py", b"def latin():\n    return '\xff'\n");
    seg.write("empty.py", "");
    seg.write("deep.py", format!("x = {}\n", "(".repeat(50_000)));
    seg.write("README.md", b"# Normal \xff heading\n\x00\n");
    std::fs::create_dir_all(seg.root.join("x.py")).unwrap();
    symlink("loop.py", seg.root.join("loop.py")).unwrap();
    symlink("/", seg.root.join("root_link")).unwrap();
    let big = [("TRIFECTA_MAX_FILE_BYTES", "100000")];
    seg.write("big.py", "def big():\n    pass\n".repeat(10_000));
    let mut cmd = seg.cmd();
    cmd.args(["ctx", "search", "-q", "normal", "--json", "-s"])
        .arg(&seg.root)
        .env(big[0].0, big[0].1);
    let json = Seg::run_cmd(&mut cmd).ok();
    assert_eq!(
        json["summary"]["files_skipped"], 2,
        "binary and too large: {json}"
    );
    let names: Vec<&str> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Normal"), "{json}");
    assert!(
        names.iter().any(|n| n.starts_with("Normal ")),
        "the Markdown heading: {json}"
    );
    let warm = seg.search("latin", &["--json"]).ok();
    assert_eq!(
        warm["summary"]["cache_misses"], 1,
        "only big.py, refused before, is new: {warm}"
    );
    assert_cache_healthy(&seg);
}
