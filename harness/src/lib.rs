//! The soak harness for the Trifecta AST cache (`soak` binary). (Being assembled.)

pub mod corpus;
pub mod metrics;
pub mod report;
pub mod signals;
pub mod slo;
pub mod util;

/// Placeholder entry point while the coordinator is assembled.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(3)
}
