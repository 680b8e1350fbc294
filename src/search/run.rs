//! One whole search over a segment through the cache (used by `ctx search` and the soak).

use rayon::prelude::*;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Query, SearchHit, list_files, rank, score_markdown, score_python};
use crate::analysis::{Analyzer, CacheStatus};

/// Largest Markdown file read.
const MAX_MARKDOWN_BYTES: u64 = 4 * 1024 * 1024;

/// The ranked results and what the search touched.
#[derive(Debug, Default)]
pub struct SearchOutcome {
    pub results: Vec<SearchHit>,
    /// Matches before the limit.
    pub matches: usize,
    pub files_scanned: usize,
    /// Files that could not be read or analysed (binary, too large, ...).
    pub files_skipped: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// True when the file listing was cut at [`super::MAX_FILES`].
    pub truncated: bool,
}

#[derive(Default)]
struct Tally {
    hits: AtomicU64,
    misses: AtomicU64,
    skipped: AtomicU64,
}

/// Searches every Python file (symbols through the cache) and Markdown file of the segment.
pub fn search_segment(analyzer: &Analyzer, query: &Query, limit: usize) -> SearchOutcome {
    let tally = Tally::default();
    let files = list_files(&analyzer.segment.root);
    let mut hits: Vec<SearchHit> = files
        .python
        .par_iter()
        .flat_map_iter(|path| python_hits(analyzer, query, path, &tally))
        .collect();
    hits.extend(
        files
            .markdown
            .par_iter()
            .flat_map_iter(|path| markdown_hits(analyzer, query, path, &tally))
            .collect::<Vec<_>>(),
    );
    let matches = hits.len();
    SearchOutcome {
        results: rank(hits, limit),
        matches,
        files_scanned: files.python.len() + files.markdown.len(),
        files_skipped: tally.skipped.into_inner(),
        cache_hits: tally.hits.into_inner(),
        cache_misses: tally.misses.into_inner(),
        truncated: files.truncated,
    }
}

fn python_hits(analyzer: &Analyzer, query: &Query, path: &Path, tally: &Tally) -> Vec<SearchHit> {
    match analyzer.symbols(path) {
        Ok(found) => {
            let counter = if found.status == CacheStatus::Hit {
                &tally.hits
            } else {
                &tally.misses
            };
            counter.fetch_add(1, Ordering::Relaxed);
            score_python(query, &found.file_rel, &found.table, &found.source)
        }
        Err(_) => {
            tally.skipped.fetch_add(1, Ordering::Relaxed);
            Vec::new()
        }
    }
}

fn markdown_hits(analyzer: &Analyzer, query: &Query, path: &Path, tally: &Tally) -> Vec<SearchHit> {
    let Some(file_rel) = analyzer.segment.relative(path) else {
        return Vec::new();
    };
    let mut text = Vec::new();
    let read =
        std::fs::File::open(path).and_then(|f| f.take(MAX_MARKDOWN_BYTES).read_to_end(&mut text));
    if read.is_err() {
        tally.skipped.fetch_add(1, Ordering::Relaxed);
        return Vec::new();
    }
    score_markdown(query, &file_rel, &text)
}
