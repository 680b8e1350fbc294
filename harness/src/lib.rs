//! The soak harness for the Trifecta AST cache (`soak` binary).
//!
//! * [`args`]: options, profiles, validation, exit codes.
//! * [`coordinator`]: phases, worker processes, verification, the report.
//! * [`worker`]: one worker process (rayon pool, operations, metrics).
//! * [`interference`]: the process that takes the cache's locks in windows.
//! * [`corpus`]: the seeded Python/Markdown corpus.
//! * [`metrics`]: HdrHistograms and their V2 serialization.
//! * [`slo`], [`report`]: the verdict and the audit report.

pub mod args;
pub mod coordinator;
pub mod corpus;
pub mod faults;
pub mod interference;
pub mod metrics;
pub mod progress;
pub mod report;
pub mod signals;
pub mod slo;
pub mod stack;
pub mod util;
pub mod verify;
pub mod worker;

use clap::Parser;
use std::process::ExitCode;

use args::{EXIT_HARNESS_ERROR, EXIT_USAGE, Internal, SoakArgs};

/// Parses the arguments and runs the coordinator or an internal role.
pub fn main() -> ExitCode {
    let args = SoakArgs::parse();
    let code = match &args.internal {
        Some(Internal::Worker { spec }) => role(worker::run(spec)),
        Some(Internal::Interfere { spec }) => role(interference::run(spec)),
        Some(Internal::Trifecta { args }) => {
            return trifecta::cli::main_from(
                std::iter::once(std::ffi::OsString::from("trifecta")).chain(args.iter().cloned()),
            );
        }
        None => run(&args),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn role(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("soak: error: {err:#}");
            EXIT_HARNESS_ERROR
        }
    }
}

/// Validates, checks the report path, and runs the soak.
fn run(args: &SoakArgs) -> i32 {
    let config = match args.validate() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("soak: usage error: {message}");
            return EXIT_USAGE;
        }
    };
    if let Err(err) = report::check_writable(&config.report_dir) {
        eprintln!(
            "soak: usage error: report directory {}: {err:#}",
            config.report_dir.display()
        );
        return EXIT_USAGE;
    }
    if let Some(dir) = &config.workdir
        && dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        eprintln!(
            "soak: usage error: --workdir {} exists and is not empty",
            dir.display()
        );
        return EXIT_USAGE;
    }
    let stop = match signals::stop_flag() {
        Ok(stop) => stop,
        Err(err) => {
            eprintln!("soak: error: {err:#}");
            return EXIT_HARNESS_ERROR;
        }
    };
    match coordinator::run(config, stop) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("soak: error: {err:#}");
            EXIT_HARNESS_ERROR
        }
    }
}
