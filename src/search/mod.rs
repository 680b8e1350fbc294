//! `ctx search`: rank a segment's Python symbols and Markdown headings against a query.
//!
//! Scores: an exact name or title match 100, a name or title containing a query term 40 per
//! term, a qualname match 20 per term; a body match (a line of the file containing a term)
//! scores 1 per matching line, at most 10 per document. So any name or title match outranks
//! any body match.

mod run;
mod walk;

pub use run::{SearchOutcome, search_segment};
pub use walk::{MAX_FILES, SegmentFiles, list_files};

use serde::Serialize;

use crate::symbols::{SymbolKind, SymbolTable};

/// Shortest query accepted (in characters, after trimming).
pub const MIN_QUERY_CHARS: usize = 2;
/// Longest query accepted (in bytes).
pub const MAX_QUERY_BYTES: usize = 1024;
const EXACT_SCORE: u32 = 100;
const NAME_TERM_SCORE: u32 = 40;
const QUALNAME_TERM_SCORE: u32 = 20;
const BODY_LINE_SCORE: u32 = 1;
const MAX_BODY_SCORE: u32 = 10;

/// A validated, normalised query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The whole query, lowercased.
    pub text: String,
    /// Lowercased terms (split on whitespace).
    pub terms: Vec<String>,
}

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("query is too short: give at least {MIN_QUERY_CHARS} characters")]
    TooShort,
    #[error("query is too long: {0} bytes (at most {MAX_QUERY_BYTES})")]
    TooLong(usize),
}

impl Query {
    /// Trims, checks the length and splits into terms.
    pub fn parse(raw: &str) -> Result<Self, QueryError> {
        if raw.len() > MAX_QUERY_BYTES {
            return Err(QueryError::TooLong(raw.len()));
        }
        let text = raw.trim().to_lowercase();
        if text.chars().count() < MIN_QUERY_CHARS {
            return Err(QueryError::TooShort);
        }
        let terms = text.split_whitespace().map(str::to_string).collect();
        Ok(Query { text, terms })
    }
}

/// What matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    Name,
    Title,
    Body,
}

/// One ranked result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    /// `class`, `function`, `method`, `heading` or `file`.
    pub kind: String,
    pub name: String,
    pub qualname: String,
    pub file_rel: String,
    pub line: u32,
    pub score: u32,
    #[serde(rename = "match")]
    pub matched: MatchKind,
}

fn name_score(query: &Query, name: &str) -> u32 {
    let lower = name.to_lowercase();
    if lower == query.text {
        return EXACT_SCORE;
    }
    query
        .terms
        .iter()
        .filter(|t| lower.contains(t.as_str()))
        .count() as u32
        * NAME_TERM_SCORE
}

fn qualname_score(query: &Query, qualname: &str) -> u32 {
    let lower = qualname.to_lowercase();
    query
        .terms
        .iter()
        .filter(|t| lower.contains(t.as_str()))
        .count() as u32
        * QUALNAME_TERM_SCORE
}

/// Body score of a text: matching lines, capped; and the first matching line (1-based).
/// The text is lowercased once (ASCII fast path), then scanned line by line.
fn body_score(query: &Query, text: &[u8]) -> (u32, u32) {
    let lower = if text.is_ascii() {
        String::from_utf8(text.to_ascii_lowercase()).unwrap_or_default()
    } else {
        String::from_utf8_lossy(text).to_lowercase()
    };
    if !query.terms.iter().any(|t| lower.contains(t.as_str())) {
        return (0, 0);
    }
    let mut score = 0;
    let mut first = 0;
    for (index, line) in lower.split('\n').enumerate() {
        if query.terms.iter().any(|t| line.contains(t.as_str())) {
            score += BODY_LINE_SCORE;
            if first == 0 {
                first = index as u32 + 1;
            }
            if score >= MAX_BODY_SCORE {
                break;
            }
        }
    }
    (score, first)
}

fn kind_name(kind: SymbolKind) -> &'static str {
    match kind {
        SymbolKind::Class => "class",
        SymbolKind::Function => "function",
        SymbolKind::Method => "method",
    }
}

/// Hits in one Python file: symbols whose name matches, else a body hit for the file.
pub fn score_python(
    query: &Query,
    file_rel: &str,
    table: &SymbolTable,
    source: &[u8],
) -> Vec<SearchHit> {
    let mut hits: Vec<SearchHit> = table
        .symbols
        .iter()
        .filter_map(|symbol| {
            let name = name_score(query, &symbol.name);
            let qual = qualname_score(query, &symbol.qualname);
            (name + qual > 0).then(|| SearchHit {
                kind: kind_name(symbol.kind).to_string(),
                name: symbol.name.clone(),
                qualname: symbol.qualname.clone(),
                file_rel: file_rel.to_string(),
                line: symbol.line,
                score: name.max(qual) + name.min(qual) / 2,
                matched: MatchKind::Name,
            })
        })
        .collect();
    if hits.is_empty() {
        hits.extend(body_hit(query, file_rel, source));
    }
    hits
}

/// Hits in one Markdown file: headings whose title matches, else a body hit for the file.
pub fn score_markdown(query: &Query, file_rel: &str, text: &[u8]) -> Vec<SearchHit> {
    let mut hits = Vec::new();
    let mut in_fence = false;
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = String::from_utf8_lossy(raw);
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        let Some(title) = heading_title(trimmed).filter(|_| !in_fence) else {
            continue;
        };
        let score = name_score(query, title);
        if score > 0 {
            hits.push(SearchHit {
                kind: "heading".into(),
                name: title.to_string(),
                qualname: title.to_string(),
                file_rel: file_rel.to_string(),
                line: index as u32 + 1,
                score,
                matched: MatchKind::Title,
            });
        }
    }
    if hits.is_empty() {
        hits.extend(body_hit(query, file_rel, text));
    }
    hits
}

fn heading_title(line: &str) -> Option<&str> {
    let hashes = line.bytes().take_while(|&b| b == b'#').count();
    if hashes == 0 || hashes > 6 {
        return None;
    }
    let rest = &line[hashes..];
    if !rest.is_empty() && !rest.starts_with(' ') && !rest.starts_with('\t') {
        return None;
    }
    let title = rest.trim().trim_end_matches('#').trim();
    (!title.is_empty()).then_some(title)
}

fn body_hit(query: &Query, file_rel: &str, text: &[u8]) -> Option<SearchHit> {
    let (score, line) = body_score(query, text);
    (score > 0).then(|| SearchHit {
        kind: "file".into(),
        name: file_rel.rsplit('/').next().unwrap_or(file_rel).to_string(),
        qualname: String::new(),
        file_rel: file_rel.to_string(),
        line,
        score,
        matched: MatchKind::Body,
    })
}

/// Sorts by score (then file and line, for a stable order) and keeps `limit`.
pub fn rank(mut hits: Vec<SearchHit>, limit: usize) -> Vec<SearchHit> {
    hits.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.file_rel.cmp(&b.file_rel))
            .then_with(|| a.line.cmp(&b.line))
    });
    hits.truncate(limit);
    hits
}
