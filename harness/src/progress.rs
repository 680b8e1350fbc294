//! Progress: indicatif bars on a terminal, plain periodic lines otherwise (CI).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use crate::args::ProgressMode;

/// How often plain mode prints a line.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// The display of one phase at a time.
pub enum Progress {
    Bars { bar: Option<ProgressBar> },
    Plain { last: Instant, phase: String },
    Silent,
}

/// What a phase's bar measures.
pub enum PhaseLength {
    /// A number of operations (the cold pass).
    Ops(u64),
    /// A duration (the timed phases).
    Time(Duration),
}

impl Progress {
    /// Picks bars on a terminal and plain lines elsewhere (for `auto`).
    pub fn new(mode: ProgressMode) -> Self {
        match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => Progress::Bars { bar: None },
            ProgressMode::Auto | ProgressMode::Plain => Progress::Plain {
                last: Instant::now(),
                phase: String::new(),
            },
            ProgressMode::Bars => Progress::Bars { bar: None },
            ProgressMode::None => Progress::Silent,
        }
    }

    /// Starts showing `phase`.
    pub fn start_phase(&mut self, phase: &str, length: PhaseLength) {
        match self {
            Progress::Bars { bar } => {
                let (len, template) = match length {
                    PhaseLength::Ops(n) => (n, "{prefix:>9} [{bar:30}] {pos}/{len} ops {msg}"),
                    PhaseLength::Time(d) => (
                        d.as_millis() as u64,
                        "{prefix:>9} [{bar:30}] {elapsed} {msg}",
                    ),
                };
                let new = ProgressBar::new(len).with_prefix(phase.to_string());
                if let Ok(style) = ProgressStyle::with_template(template) {
                    new.set_style(style.progress_chars("=> "));
                }
                *bar = Some(new);
            }
            Progress::Plain {
                last,
                phase: current,
            } => {
                *current = phase.to_string();
                *last = Instant::now();
                eprintln!("[soak] phase {phase} started");
            }
            Progress::Silent => {}
        }
    }

    /// Updates the current phase: `position` in its unit, and a status message.
    pub fn update(&mut self, position: u64, ops: u64, errors: u64, elapsed: Duration) {
        let message = format!("ops={ops} errors={errors}");
        match self {
            Progress::Bars { bar: Some(bar) } => {
                bar.set_position(position);
                bar.set_message(message);
            }
            Progress::Plain { last, phase } if last.elapsed() >= PLAIN_EVERY => {
                *last = Instant::now();
                eprintln!("[soak] {phase} {:.1}s {message}", elapsed.as_secs_f64());
            }
            _ => {}
        }
    }

    /// Ends the current phase with a summary line.
    pub fn finish_phase(&mut self, summary: &str) {
        match self {
            Progress::Bars { bar } => {
                if let Some(bar) = bar.take() {
                    bar.finish_with_message(summary.to_string());
                }
            }
            Progress::Plain { phase, .. } => eprintln!("[soak] phase {phase} done: {summary}"),
            Progress::Silent => {}
        }
    }

    /// A line outside any phase.
    pub fn note(&self, line: &str) {
        match self {
            Progress::Silent => {}
            Progress::Bars { bar: Some(bar) } => bar.println(line),
            _ => eprintln!("[soak] {line}"),
        }
    }
}
