//! Hostile inputs: `extract` must return, without panicking, a sensible
//! table for any bytes. Large inputs are generated here, never committed.

use trifecta::symbols::{Symbol, SymbolKind, SymbolTable, extract};

const FIVE_MB: usize = 5 * 1024 * 1024;

/// Deterministic pseudo-random bytes (xorshift64).
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        bytes.extend_from_slice(&seed.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// `(qualname, line, end_line)` of every symbol, for compact assertions.
fn spans(table: &SymbolTable) -> Vec<(&str, u32, u32)> {
    table
        .symbols
        .iter()
        .map(|symbol| (symbol.qualname.as_str(), symbol.line, symbol.end_line))
        .collect()
}

fn find<'a>(table: &'a SymbolTable, qualname: &str) -> Option<&'a Symbol> {
    table
        .symbols
        .iter()
        .find(|symbol| symbol.qualname == qualname)
}

/// Invariants every table must satisfy, whatever the input.
fn assert_sane(table: &SymbolTable) {
    for pair in table.symbols.windows(2) {
        assert!(pair[0].line <= pair[1].line, "not ordered by line");
    }
    for symbol in &table.symbols {
        assert!(!symbol.name.is_empty());
        assert!(symbol.qualname.ends_with(&symbol.name));
        assert!(symbol.line >= 1 && symbol.line <= symbol.end_line);
    }
}

#[test]
fn empty_input() {
    let table = extract(b"");
    assert_eq!(table, SymbolTable::default());
}

#[test]
fn bom_only_and_bom_before_code() {
    assert_eq!(extract(b"\xEF\xBB\xBF"), SymbolTable::default());
    let table = extract(b"\xEF\xBB\xBFdef f():\n    pass\n");
    assert_eq!(spans(&table), [("f", 1, 2)]);
    assert_eq!(table.parse_errors, 0);
}

#[test]
fn binary_garbage() {
    for seed in [1, 2, 3] {
        let table = extract(&garbage(64 * 1024, seed));
        assert_sane(&table);
        assert!(table.parse_errors > 0);
    }
}

#[test]
fn code_around_binary_garbage_is_recovered() {
    let mut source = b"def before():\n    pass\n".to_vec();
    source.extend(
        garbage(4096, 7)
            .iter()
            .filter(|byte| byte.is_ascii_graphic()),
    );
    source.extend_from_slice(b"\n\nclass After:\n    def method(self):\n        pass\n");
    let table = extract(&source);
    assert_sane(&table);
    assert!(table.parse_errors > 0);
    assert!(find(&table, "before").is_some());
}

#[test]
fn nul_bytes() {
    let source = b"def f():\n    pass\n\0\0\nclass A:\n    def m(self): pass\n";
    let table = extract(source);
    assert_sane(&table);
    assert!(table.parse_errors > 0);
    assert_eq!(spans(&table), [("f", 1, 2), ("A", 4, 5), ("A.m", 5, 5)]);
    assert_sane(&extract(&[0; 10_000]));
}

#[test]
fn invalid_utf8() {
    let source = b"def caf\xE9():\n    pass\nclass \xFF\xFE:\n    pass\ndef ok():\n    pass\n";
    let table = extract(source);
    assert_sane(&table);
    assert!(table.parse_errors > 0);
    assert_eq!(
        find(&table, "ok").map(|s| (s.line, s.end_line)),
        Some((5, 6))
    );
}

#[test]
fn cr_only_line_endings_count_like_cpython() {
    let source = b"class A:\r    def m(self):\r        s = '''x\ry'''\r        return s\r\rdef f():\r    pass\r";
    let table = extract(source);
    assert_eq!(table.parse_errors, 0);
    assert_eq!(spans(&table), [("A", 1, 5), ("A.m", 2, 5), ("f", 7, 8)]);
}

#[test]
fn crlf_and_mixed_line_endings() {
    let crlf = b"class A:\r\n    def m(self):\r\n        pass\r\n\r\ndef f():\r\n    pass\r\n";
    let table = extract(crlf);
    assert_eq!(table.parse_errors, 0);
    assert_eq!(spans(&table), [("A", 1, 3), ("A.m", 2, 3), ("f", 5, 6)]);

    let mixed = b"def a():\r\n    pass\r\rdef b():\n    pass\r\n";
    let table = extract(mixed);
    assert_eq!(table.parse_errors, 0);
    assert_eq!(spans(&table), [("a", 1, 2), ("b", 4, 5)]);
}

#[test]
fn five_megabyte_lines() {
    let mut source = b"x = '".to_vec();
    source.resize(FIVE_MB, b'a');
    source.extend_from_slice(b"'\n# ");
    source.resize(2 * FIVE_MB, b'#');
    source.extend_from_slice(b"\ndef after():\n    pass\n");
    let table = extract(&source);
    assert_eq!(table.parse_errors, 0);
    assert_eq!(spans(&table), [("after", 3, 4)]);
}

#[test]
fn fifty_thousand_nested_parentheses() {
    let depth = 50_000;
    let mut closed = b"x = ".to_vec();
    closed.extend(std::iter::repeat_n(b'(', depth));
    closed.push(b'1');
    closed.extend(std::iter::repeat_n(b')', depth));
    closed.extend_from_slice(b"\ndef after():\n    pass\n");
    assert_eq!(spans(&extract(&closed)), [("after", 2, 3)]);

    let mut unclosed = b"def before():\n    pass\nx = ".to_vec();
    unclosed.extend(std::iter::repeat_n(b'(', depth));
    unclosed.push(b'\n');
    let table = extract(&unclosed);
    assert_sane(&table);
    assert!(table.parse_errors > 0);
    assert!(find(&table, "before").is_some());
}

#[test]
fn three_hundred_nested_classes() {
    let depth = 300;
    let mut source = String::new();
    for level in 0..depth {
        source.push_str(&format!("{}class C{level}:\n", "    ".repeat(level)));
    }
    source.push_str(&format!("{}def leaf(self):\n", "    ".repeat(depth)));
    source.push_str(&format!("{}pass\n", "    ".repeat(depth + 1)));
    let table = extract(source.as_bytes());
    assert_eq!(table.parse_errors, 0);
    assert_eq!(table.symbols.len(), depth + 1);
    let last_line = u32::try_from(depth + 2).unwrap();
    for (level, symbol) in table.symbols.iter().take(depth).enumerate() {
        assert_eq!(symbol.kind, SymbolKind::Class);
        assert_eq!(symbol.name, format!("C{level}"));
        assert_eq!(symbol.qualname.split('.').count(), level + 1);
        assert_eq!(symbol.line, u32::try_from(level + 1).unwrap());
        assert_eq!(symbol.end_line, last_line);
    }
    let leaf = &table.symbols[depth];
    assert_eq!(leaf.kind, SymbolKind::Method);
    assert_eq!(leaf.qualname.split('.').count(), depth + 1);
    assert!(leaf.qualname.starts_with("C0.C1.C2."));
    assert!(leaf.qualname.ends_with(".C299.leaf"));
}

#[test]
fn many_classes_on_one_line() {
    let mut source = b"class A: ".repeat(20_000);
    source.extend_from_slice(b"pass\n");
    let table = extract(&source);
    assert_sane(&table);
    assert!(table.parse_errors > 0);
}

#[test]
fn parser_reuse_after_broken_input_gives_the_same_result() {
    let valid = b"class A:\n    def m(self):\n        pass\n";
    let first = extract(valid);
    extract(&garbage(16 * 1024, 9));
    extract(b"def broken(:\n");
    assert_eq!(extract(valid), first);
}

#[test]
fn extraction_on_many_threads_agrees() {
    let source = b"class A:\n    def m(self):\n        pass\n\ndef f(): pass\n";
    let expected = extract(source);
    let handles: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || (0..50).map(|_| extract(source)).collect::<Vec<_>>()))
        .collect();
    for handle in handles {
        for table in handle.join().expect("no panic") {
            assert_eq!(table, expected);
        }
    }
}
