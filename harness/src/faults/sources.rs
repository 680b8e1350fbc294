//! Hostile sources: edits that break, bloat or disguise Python files, made by workers while
//! the soak runs. Each is followed by a lookup of the file it touched.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::SystemTime;

/// Bigger than the default 8 MiB size cap: the answer must be `TOO_LARGE`.
const HUGE_BYTES: usize = 9 * 1024 * 1024;
/// Nesting depth of the deep-nesting file.
const DEEP: usize = 50_000;
/// Files grown past this by concatenation are chopped instead.
const MAX_SLAP_BYTES: usize = 256 * 1024;

/// The kinds of hostile edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceMode {
    /// A few characters inserted or deleted at random.
    Noise,
    /// The file cut at a random point.
    Chop,
    /// Two files concatenated.
    Slap,
    /// Random bytes with NULs in a `.py` file (answer: `NOT_PYTHON`).
    Binary,
    /// A file over the size cap (answer: `TOO_LARGE`).
    Huge,
    /// 50,000 nested parentheses.
    DeepNesting,
    /// The modification time changed, the content not.
    Touch,
    /// The content changed with the same size and the same modification time: only the
    /// content hash can tell.
    SameSizeMtime,
}

impl SourceMode {
    /// Every mode.
    pub const ALL: [SourceMode; 8] = [
        SourceMode::Noise,
        SourceMode::Chop,
        SourceMode::Slap,
        SourceMode::Binary,
        SourceMode::Huge,
        SourceMode::DeepNesting,
        SourceMode::Touch,
        SourceMode::SameSizeMtime,
    ];

    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceMode::Noise => "noise",
            SourceMode::Chop => "chop",
            SourceMode::Slap => "slap",
            SourceMode::Binary => "binary",
            SourceMode::Huge => "huge",
            SourceMode::DeepNesting => "deep_nesting",
            SourceMode::Touch => "touch",
            SourceMode::SameSizeMtime => "same_size_mtime",
        }
    }
}

/// What the lookup after a hostile edit should answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Symbols (possibly with parse errors).
    Answer,
    /// `NOT_PYTHON`.
    NotPython,
    /// `TOO_LARGE`.
    TooLarge,
}

/// The file a hostile edit touched and what a lookup must answer.
pub struct Target {
    pub rel: String,
    pub expected: Expected,
}

/// Applies `mode`, on a corpus file or on a file of its own under `faults/`.
pub fn apply(
    root: &Path,
    corpus: &[String],
    worker: u32,
    seq: u64,
    mode: SourceMode,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<Target> {
    let own = |kind: &str| format!("faults/{kind}_w{worker}_{}.py", seq % 4);
    match mode {
        SourceMode::Noise => edit(root, &pick(corpus, rng), rng, noise),
        SourceMode::Chop => edit(root, &pick(corpus, rng), rng, chop),
        SourceMode::Slap => {
            let other = std::fs::read(root.join(pick(corpus, rng)))?;
            edit(root, &pick(corpus, rng), rng, move |bytes, rng| {
                slap(bytes, &other, rng)
            })
        }
        SourceMode::Binary => {
            let mut bytes: Vec<u8> = (0..512).map(|_| rng.u8(..)).collect();
            bytes[rng.usize(0..64)] = 0;
            write_new(root, &own("binary"), &bytes, Expected::NotPython)
        }
        SourceMode::Huge => {
            let rel = format!("faults/huge_w{worker}.py");
            if std::fs::metadata(root.join(&rel)).is_ok_and(|m| m.len() as usize >= HUGE_BYTES) {
                return Ok(Target {
                    rel,
                    expected: Expected::TooLarge,
                });
            }
            let content = "x = 1\n".repeat(HUGE_BYTES / 6 + 1);
            write_new(root, &rel, content.as_bytes(), Expected::TooLarge)
        }
        SourceMode::DeepNesting => {
            let content = format!("x = {}1{}\n", "(".repeat(DEEP), ")".repeat(DEEP));
            write_new(root, &own("deep"), content.as_bytes(), Expected::Answer)
        }
        SourceMode::Touch => {
            let rel = pick(corpus, rng);
            let file = std::fs::File::options().write(true).open(root.join(&rel))?;
            file.set_modified(SystemTime::now())?;
            Ok(Target {
                rel,
                expected: Expected::Answer,
            })
        }
        SourceMode::SameSizeMtime => {
            let rel = pick(corpus, rng);
            same_size_same_mtime(root, &rel, rng)
        }
    }
}

fn pick(corpus: &[String], rng: &mut fastrand::Rng) -> String {
    corpus[rng.usize(0..corpus.len())].clone()
}

fn edit(
    root: &Path,
    rel: &str,
    rng: &mut fastrand::Rng,
    change: impl FnOnce(Vec<u8>, &mut fastrand::Rng) -> Vec<u8>,
) -> anyhow::Result<Target> {
    let path = root.join(rel);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {rel}"))?;
    write_atomic(&path, &change(bytes, rng))?;
    Ok(Target {
        rel: rel.to_string(),
        expected: Expected::Answer,
    })
}

fn noise(mut bytes: Vec<u8>, rng: &mut fastrand::Rng) -> Vec<u8> {
    const PRINTABLE: &[u8] = b" ():,.'\"#=+-*abcxyz019\n\t";
    for _ in 0..rng.usize(1..=5) {
        let at = rng.usize(0..=bytes.len());
        if rng.bool() || bytes.is_empty() {
            bytes.insert(at, PRINTABLE[rng.usize(0..PRINTABLE.len())]);
        } else {
            bytes.remove(at.min(bytes.len() - 1));
        }
    }
    bytes
}

fn chop(mut bytes: Vec<u8>, rng: &mut fastrand::Rng) -> Vec<u8> {
    bytes.truncate(rng.usize(0..=bytes.len()));
    bytes
}

fn slap(mut bytes: Vec<u8>, other: &[u8], rng: &mut fastrand::Rng) -> Vec<u8> {
    if bytes.len() + other.len() > MAX_SLAP_BYTES {
        return chop(bytes, rng);
    }
    bytes.extend_from_slice(other);
    bytes
}

/// Flips one letter to another letter (same size), then restores the modification time.
fn same_size_same_mtime(root: &Path, rel: &str, rng: &mut fastrand::Rng) -> anyhow::Result<Target> {
    let path = root.join(rel);
    let mut bytes = std::fs::read(&path)?;
    let mtime = std::fs::metadata(&path)?.modified()?;
    let letters: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| b.is_ascii_lowercase())
        .map(|(i, _)| i)
        .collect();
    if let Some(&at) = letters.get(rng.usize(0..letters.len().max(1))) {
        bytes[at] = if bytes[at] == b'z' {
            b'a'
        } else {
            bytes[at] + 1
        };
    }
    let file = std::fs::File::options().write(true).open(&path)?;
    std::fs::write(&path, &bytes)?;
    file.set_modified(mtime)?;
    Ok(Target {
        rel: rel.to_string(),
        expected: Expected::Answer,
    })
}

fn write_new(root: &Path, rel: &str, bytes: &[u8], expected: Expected) -> anyhow::Result<Target> {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_atomic(&path, bytes)?;
    Ok(Target {
        rel: rel.to_string(),
        expected,
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".fault-")
        .tempfile_in(dir)?;
    std::io::Write::write_all(&mut temp, bytes)?;
    temp.persist(path)?;
    Ok(())
}
