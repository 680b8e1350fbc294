//! Lists the Python and Markdown files of a segment.

use std::path::{Path, PathBuf};

/// Most files one search looks at.
pub const MAX_FILES: usize = 100_000;
/// Deepest directory nesting followed.
const MAX_DEPTH: usize = 64;

/// Files found in a segment.
#[derive(Debug, Default)]
pub struct SegmentFiles {
    pub python: Vec<PathBuf>,
    pub markdown: Vec<PathBuf>,
    /// True when [`MAX_FILES`] cut the listing short.
    pub truncated: bool,
}

/// Walks `root` without following symlinks, skipping hidden directories, `_ctx`,
/// `__pycache__` and `node_modules`. Sorted for a stable order.
pub fn list_files(root: &Path) -> SegmentFiles {
    let mut found = SegmentFiles::default();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if file_type.is_dir() {
                if depth < MAX_DEPTH && !skip_dir(&name) {
                    stack.push((path, depth + 1));
                }
            } else if file_type.is_file() {
                if found.python.len() + found.markdown.len() >= MAX_FILES {
                    found.truncated = true;
                    continue;
                }
                if name.ends_with(".py") {
                    found.python.push(path);
                } else if name.ends_with(".md") {
                    found.markdown.push(path);
                }
            }
        }
    }
    found.python.sort();
    found.markdown.sort();
    found
}

fn skip_dir(name: &str) -> bool {
    name.starts_with('.') || matches!(name, "_ctx" | "__pycache__" | "node_modules")
}
