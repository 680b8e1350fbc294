//! `soak`: the soak harness for the Trifecta AST cache. See `soak --help`.

fn main() -> std::process::ExitCode {
    trifecta_harness::main()
}
