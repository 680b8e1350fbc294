//! Golden tests: every `tests/fixtures/symbols/*.py` is extracted and
//! compared with its `<name>.expected.json`, written by
//! `generate_golden.py` from CPython's `ast` (or by hand for the few files
//! CPython cannot parse).

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use trifecta::symbols::{Symbol, extract};

const GENERATOR: &str = "generate_golden.py";
const MIN_FIXTURES: usize = 25;

#[derive(Debug, Deserialize)]
struct Expected {
    symbols: Vec<Symbol>,
    parse_errors: u32,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/symbols")
}

fn fixtures() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(fixture_dir())
        .expect("fixture directory exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "py"))
        .filter(|path| !path.ends_with(GENERATOR))
        .collect();
    paths.sort();
    paths
}

fn expected_for(source: &Path) -> Expected {
    let path = source.with_extension("expected.json");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: {err} (run {GENERATOR})", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A description of how `source` differs from its golden file, if it does.
fn mismatch(source: &Path) -> Option<String> {
    let expected = expected_for(source);
    let actual = extract(&fs::read(source).expect("readable fixture"));
    let name = source.file_name()?.to_string_lossy().into_owned();
    if actual.symbols != expected.symbols {
        return Some(format!(
            "{name}: symbols differ\n  expected: {:?}\n  actual:   {:?}",
            expected.symbols, actual.symbols
        ));
    }
    let broken = expected.parse_errors > 0;
    if broken != (actual.parse_errors > 0) {
        return Some(format!(
            "{name}: parse_errors expected {} but got {}",
            if broken { "> 0" } else { "== 0" },
            actual.parse_errors
        ));
    }
    None
}

#[test]
fn every_fixture_matches_its_golden_file() {
    let fixtures = fixtures();
    assert!(
        fixtures.len() >= MIN_FIXTURES,
        "only {} fixtures found",
        fixtures.len()
    );
    let failures: Vec<String> = fixtures.iter().filter_map(|path| mismatch(path)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn broken_fixtures_are_marked_broken() {
    let broken = fixtures()
        .iter()
        .filter(|path| expected_for(path).parse_errors > 0)
        .count();
    assert!(broken >= 1, "no fixture with syntax errors");
}
