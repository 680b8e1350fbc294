//! Python symbol extraction with tree-sitter-python.
//!
//! The record types here are what the cache stores (serde, typed) and what
//! `trifecta ast symbols` prints.

use serde::{Deserialize, Serialize};

mod extract;

pub use extract::extract;

/// What kind of definition a symbol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SymbolKind {
    Class,
    Function,
    Method,
}

/// One `def` or `class` statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    pub kind: SymbolKind,
    pub name: String,
    /// Dotted path through enclosing classes, e.g. `Outer.Inner.method`.
    pub qualname: String,
    /// 1-based line of the `def`/`class` keyword (CPython `ast` `lineno`).
    pub line: u32,
    /// 1-based last line of the body (CPython `ast` `end_lineno`).
    pub end_line: u32,
}

/// The extraction result for one file: what the cache stores per key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolTable {
    /// Symbols ordered by line.
    pub symbols: Vec<Symbol>,
    /// Number of ERROR / MISSING nodes tree-sitter reported (0 for valid code).
    pub parse_errors: u32,
}
