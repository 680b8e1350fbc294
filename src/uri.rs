//! `sym://python/...` URIs and their resolution to files inside a segment.

use std::path::{Path, PathBuf};

use crate::segment::Segment;

/// Longest URI accepted.
pub const MAX_URI_LEN: usize = 4096;

/// A parsed symbol URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolUri {
    /// Dotted module path, e.g. `pkg.sub.mod`.
    pub module: String,
    /// For `sym://python/type/...#Name`: the class or function selected.
    pub name: Option<String>,
}

/// Why a URI was refused or did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("invalid URI: {0}")]
    Invalid(String),
    #[error("module not found: {0}")]
    NotFound(String),
    #[error("not a Python file: {0}")]
    NotPython(String),
}

impl SymbolUri {
    /// Parses `sym://python/mod/<dotted>` or `sym://python/type/<dotted>#<Name>`.
    pub fn parse(text: &str) -> Result<Self, UriError> {
        let invalid = |why: &str| UriError::Invalid(format!("{why} (got '{}')", shorten(text)));
        if text.len() > MAX_URI_LEN {
            return Err(UriError::Invalid(format!(
                "URI is longer than {MAX_URI_LEN} bytes"
            )));
        }
        let rest = text
            .strip_prefix("sym://")
            .ok_or_else(|| invalid("expected a URI starting with sym://"))?;
        let (language, rest) = rest.split_once('/').ok_or_else(|| {
            invalid("expected sym://python/mod/<module> or sym://python/type/<module>#<Name>")
        })?;
        if language != "python" {
            return Err(invalid("only the python language is supported"));
        }
        let (kind, target) = rest.split_once('/').ok_or_else(|| {
            invalid("expected mod/<module> or type/<module>#<Name> after sym://python/")
        })?;
        match kind {
            "mod" => {
                if target.contains('#') {
                    return Err(invalid("a mod URI takes no #Name; use sym://python/type/"));
                }
                Ok(SymbolUri {
                    module: parse_dotted(target).map_err(|why| invalid(&why))?,
                    name: None,
                })
            }
            "type" => {
                let (module, name) = target
                    .split_once('#')
                    .ok_or_else(|| invalid("a type URI needs #<Name>"))?;
                let module = parse_dotted(module).map_err(|why| invalid(&why))?;
                let name = parse_dotted(name).map_err(|why| invalid(&why))?;
                Ok(SymbolUri {
                    module,
                    name: Some(name),
                })
            }
            _ => Err(invalid("the URI kind must be mod or type")),
        }
    }

    /// The file the module names: `<path>.py`, then `<path>/__init__.py`. The result is
    /// canonical and inside the segment (symlinks that leave it are refused).
    pub fn resolve(&self, segment: &Segment) -> Result<PathBuf, UriError> {
        let relative: PathBuf = self.module.split('.').collect();
        let module_file = segment.root.join(&relative).with_extension("py");
        let package_init = segment.root.join(&relative).join("__init__.py");
        for candidate in [&module_file, &package_init] {
            if let Some(found) = existing_inside(candidate, segment)? {
                return Ok(found);
            }
        }
        if module_file.is_dir() {
            return Err(UriError::NotPython(format!(
                "{}.py is a directory, not a Python file",
                relative.display()
            )));
        }
        Err(UriError::NotFound(format!(
            "module '{}' (looked for {}.py and {}/__init__.py)",
            self.module,
            relative.display(),
            relative.display()
        )))
    }
}

/// The canonical path of `candidate` when it is a regular file inside the segment.
fn existing_inside(candidate: &Path, segment: &Segment) -> Result<Option<PathBuf>, UriError> {
    let meta = match std::fs::symlink_metadata(candidate) {
        Ok(meta) => meta,
        Err(_) => return Ok(None),
    };
    let canonical = match candidate.canonicalize() {
        Ok(path) => path,
        Err(err) if meta.file_type().is_symlink() => {
            return Err(UriError::NotFound(format!(
                "{} is a broken or looping symlink ({err})",
                display_rel(candidate, segment)
            )));
        }
        Err(_) => return Ok(None),
    };
    if !canonical.starts_with(&segment.root) {
        return Err(UriError::Invalid(format!(
            "{} resolves outside the segment",
            display_rel(candidate, segment)
        )));
    }
    Ok(canonical.is_file().then_some(canonical))
}

fn display_rel(path: &Path, segment: &Segment) -> String {
    path.strip_prefix(&segment.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Checks a dotted path of Python identifiers (no `..`, no `/`, no empty parts).
fn parse_dotted(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("the module or name is empty".into());
    }
    if text.contains(['/', '\\']) {
        return Err("paths are not allowed; use a dotted module name like pkg.mod".into());
    }
    for part in text.split('.') {
        if part.is_empty() {
            return Err(
                "empty name part: leading, trailing or doubled dots ('..') are not allowed".into(),
            );
        }
        if !is_identifier(part) {
            return Err(format!("'{}' is not a Python identifier", shorten(part)));
        }
    }
    Ok(text.to_string())
}

fn is_identifier(part: &str) -> bool {
    let mut chars = part.chars();
    match chars.next() {
        Some(first) if first == '_' || first.is_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c == '_' || c.is_alphanumeric())
}

fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head}...")
    }
}
