//! Corpus generation at soak scale: speed, and CPython's opinion of the files.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use trifecta_harness::corpus::{CorpusSpec, generate, mutate_file};

fn spec(seed: u64) -> CorpusSpec {
    CorpusSpec {
        python_files: 1000,
        markdown_files: 100,
        seed,
    }
}

#[test]
fn generates_a_thousand_files_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let corpus = generate(&dir.path().join("segment"), &spec(1)).unwrap();
    let elapsed = started.elapsed();
    eprintln!(
        "generated {} Python + {} Markdown files, {} bytes, in {elapsed:?}",
        corpus.python.len(),
        corpus.markdown.len(),
        corpus.bytes
    );
    assert_eq!(corpus.python.len(), 1000);
    // A guard against pathological slowness (say, quadratic layout code), loose enough for a
    // loaded CI machine: the generation itself takes well under 1 s in release.
    let limit = if cfg!(debug_assertions) { 30.0 } else { 3.0 };
    assert!(elapsed.as_secs_f64() < limit, "{elapsed:?}");
}

/// Runs CPython's parser over `paths`; `None` when python3 is missing.
fn cpython_errors(paths: &[PathBuf]) -> Option<String> {
    let script = "import ast, sys\n\
                  bad = []\n\
                  for path in sys.argv[1:]:\n\
                  \x20   try:\n\
                  \x20       ast.parse(open(path, encoding='utf-8').read(), path)\n\
                  \x20   except SyntaxError as exc:\n\
                  \x20       bad.append(f'{path}:{exc.lineno}: {exc.msg}')\n\
                  print('\\n'.join(bad))\n";
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(paths)
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[test]
fn cpython_accepts_a_full_corpus_before_and_after_mutations() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = generate(&dir.path().join("segment"), &spec(2)).unwrap();
    let paths: Vec<PathBuf> = corpus
        .python
        .iter()
        .map(|rel| corpus.path_of(rel))
        .collect();
    let Some(errors) = cpython_errors(&paths) else {
        eprintln!("python3 not found: skipping");
        return;
    };
    assert_eq!(errors, "", "CPython rejects generated files");
    let mut rng = fastrand::Rng::with_seed(3);
    for rel in &corpus.python {
        for _ in 0..4 {
            mutate_file(&corpus.root, rel, &mut rng).unwrap();
        }
    }
    let errors = cpython_errors(&paths).unwrap_or_default();
    assert_eq!(errors, "", "CPython rejects mutated files");
}
