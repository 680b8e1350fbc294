//! Trifecta: a persistent, multi-process AST symbol cache for Python code segments.
//!
//! * [`cache`]: the cache stack (memory LRU, SQLite, file lock, telemetry) and its factory.
//! * [`telemetry`]: JSONL events safe for many processes.
//! * [`symbols`]: Python symbol extraction with tree-sitter.
//! * [`analysis`]: one file's symbols through the cache (shared by the CLI and the soak).
//! * [`search`]: ranking for `ctx search`.
//! * [`uri`]: `sym://python/...` URIs.
//! * [`cli`]: the `trifecta` command line.

pub mod analysis;
pub mod cache;
pub mod cli;
pub mod search;
pub mod segment;
pub mod symbols;
pub mod telemetry;
pub mod uri;
