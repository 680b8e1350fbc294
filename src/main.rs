//! The `trifecta` command line.

fn main() -> std::process::ExitCode {
    trifecta::cli::main()
}
