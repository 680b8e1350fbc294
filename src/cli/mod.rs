//! The `trifecta` command line: argument parsing and dispatch.

mod ast;
mod cache_cmd;
mod context;
mod ctx;
mod output;

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::telemetry::Level;
pub use output::CliError;

/// Trifecta: Python symbols for code agents, cached per segment.
#[derive(Debug, Parser)]
#[command(name = "trifecta", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Symbol extraction.
    #[command(subcommand)]
    Ast(AstCommand),
    /// Context search.
    #[command(subcommand)]
    Ctx(CtxCommand),
    /// Cache maintenance.
    #[command(subcommand)]
    Cache(CacheCommand),
}

#[derive(Debug, Subcommand)]
pub enum AstCommand {
    /// Prints the symbols of a module as JSON.
    Symbols(SymbolsArgs),
}

#[derive(Debug, Subcommand)]
pub enum CtxCommand {
    /// Ranks the segment's symbols and Markdown headings against a query.
    Search(SearchArgs),
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries, bytes, hit/miss counters and sizes.
    Stats(CacheArgs),
    /// Runs integrity_check; exits 1 when the database is not ok.
    Check(CheckArgs),
    /// Removes entries idle longer than the TTL and enforces the limits.
    Gc(CacheArgs),
    /// Removes the database, its WAL and SHM under the exclusive lock.
    Clear(CacheArgs),
}

/// Cache selection flags shared by the commands that read symbols.
#[derive(Debug, Clone, Args)]
pub struct CacheFlags {
    /// Use the persistent SQLite cache (default; also TRIFECTA_AST_PERSIST=1).
    #[arg(long, conflicts_with = "no_persist_cache")]
    pub persist_cache: bool,
    /// Use an in-memory cache only (also TRIFECTA_AST_PERSIST=0).
    #[arg(long)]
    pub no_persist_cache: bool,
    /// Telemetry level written to <segment>/_ctx/telemetry/events.jsonl.
    #[arg(long, default_value = "lite", value_parser = parse_level)]
    pub telemetry: Level,
}

impl CacheFlags {
    /// `Some` when a flag chose the backend, `None` to read the environment.
    pub fn persist(&self) -> Option<bool> {
        match (self.persist_cache, self.no_persist_cache) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

fn parse_level(text: &str) -> Result<Level, String> {
    text.parse()
}

#[derive(Debug, Args)]
pub struct SymbolsArgs {
    /// sym://python/mod/<dotted.module> or sym://python/type/<dotted.module>#<Name>
    // An `OsString`: bytes that are not UTF-8 get `INVALID_URI` JSON, not a clap usage error.
    pub uri: OsString,
    /// Segment directory.
    #[arg(long, default_value = ".")]
    pub segment: PathBuf,
    #[command(flatten)]
    pub cache: CacheFlags,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query (at least 2 characters).
    // An `OsString`: bytes that are not UTF-8 get `INVALID_QUERY`, not a clap usage error.
    #[arg(short = 'q', long = "query")]
    pub query: OsString,
    /// Segment directory.
    #[arg(short = 's', long = "segment", default_value = ".")]
    pub segment: PathBuf,
    /// Most results shown (1 to 1000).
    #[arg(short = 'l', long = "limit", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Machine-readable JSON output.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cache: CacheFlags,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Segment directory.
    #[arg(long, default_value = ".")]
    pub segment: PathBuf,
    /// Machine-readable JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: CacheArgs,
    /// Quarantine a damaged database and start an empty one.
    #[arg(long)]
    pub repair: bool,
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    main_from(std::env::args_os())
}

/// Parses `args` (the first is the program name) and runs the command.
pub fn main_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Ast(AstCommand::Symbols(args)) => ast::run(&args),
        Command::Ctx(CtxCommand::Search(args)) => ctx::run(&args),
        Command::Cache(command) => cache_cmd::run(&command),
    }
}
