//! Fault injection: worker kills, database corruption, hostile sources, rogue closes.
//!
//! Every fault is seeded, counted, and shown in the report with its outcome.

pub mod corrupt;
pub mod rogue;
pub mod sources;

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// The coordinator SIGKILLs random workers mid-operation and respawns them.
    Kill,
    /// The coordinator damages the database file in each mode, in turn.
    Corrupt,
    /// Workers create and damage source files (noise, chop, slap, binary, huge, ...).
    Sources,
    /// Workers open, read and close the database file with a plain handle, which drops the
    /// process's POSIX locks.
    RogueClose,
}

impl Fault {
    /// Every fault, in a fixed order.
    pub const ALL: [Fault; 4] = [
        Fault::Kill,
        Fault::Corrupt,
        Fault::Sources,
        Fault::RogueClose,
    ];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Corrupt => "corrupt",
            Fault::Sources => "sources",
            Fault::RogueClose => "rogue-close",
        }
    }
}

/// Parses `kill,corrupt` or `all`; unknown names are errors.
pub fn parse_faults(text: &str) -> Result<Vec<Fault>, String> {
    let mut faults = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name == "all" {
            faults.extend(Fault::ALL);
            continue;
        }
        let fault = Fault::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| format!("--faults: unknown fault '{name}' (known: kill, corrupt, sources, rogue-close, all)"))?;
        faults.push(fault);
    }
    faults.sort();
    faults.dedup();
    Ok(faults)
}

/// How often the coordinator's faults fire.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub faults: Vec<Fault>,
    /// Mean time between worker kills.
    pub kill_every: Duration,
    /// Time between database corruptions.
    pub corrupt_every: Duration,
}

impl FaultPlan {
    /// Whether `fault` is on.
    pub fn has(&self, fault: Fault) -> bool {
        self.faults.contains(&fault)
    }
}
