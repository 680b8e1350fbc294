//! Errors with codes, and how commands print them.

use serde_json::json;
use std::process::ExitCode;

/// A command failure with a stable code (`INVALID_URI`, `FILE_NOT_FOUND`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub code: &'static str,
    pub message: String,
}

impl CliError {
    /// An error with `code`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }

    /// The JSON form: `{status:"error", error_code, message}`.
    pub fn to_json(&self) -> serde_json::Value {
        json!({"status": "error", "error_code": self.code, "message": self.message})
    }
}

/// Prints `value` as one line of JSON on stdout.
pub fn print_json(value: &serde_json::Value) {
    print_line(&value.to_string());
}

/// Prints one line on stdout. A closed pipe (`| head`) is not worth a panic: the output is
/// dropped.
pub fn print_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Prints one line on stderr, ignoring a closed stream.
pub fn print_error_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Prints the error (JSON on stdout when `json`, else one line on stderr) and returns exit 1.
pub fn fail(error: &CliError, json: bool) -> ExitCode {
    if json {
        print_json(&error.to_json());
    } else {
        print_error_line(&format!("error [{}]: {}", error.code, error.message));
    }
    ExitCode::from(1)
}
