//! The coordinator's faults: SIGKILL of random workers and corruption of the database, on
//! seeded schedules, with a record of each injection for the report.

use std::time::{Duration, Instant};

use trifecta::segment::Segment;

use super::samplers;
use crate::faults::corrupt::{self, CorruptMode};
use crate::faults::{Fault, FaultPlan};

/// One worker killed.
#[derive(Debug, Clone)]
pub struct KillRecord {
    pub pid: u32,
    /// Operations the worker had reported done (its last progress line) when it died.
    pub ops_reported: u64,
}

/// One corruption injected.
#[derive(Debug, Clone)]
pub struct CorruptionRecord {
    pub mode: CorruptMode,
    /// RFC 3339 UTC with milliseconds, comparable with telemetry `ts`.
    pub at: String,
    pub error: Option<String>,
    /// `quick_check` of the database just before the next injection (or at the end).
    pub check_after: Option<String>,
}

/// Fires the coordinator's faults and remembers them.
pub struct FaultDriver {
    segment: Segment,
    rng: fastrand::Rng,
    kill_every: Option<Duration>,
    corrupt_every: Option<Duration>,
    next_kill: Option<Instant>,
    next_corrupt: Option<Instant>,
    pub kills: Vec<KillRecord>,
    pub corruptions: Vec<CorruptionRecord>,
}

impl FaultDriver {
    /// A driver for the coordinator's part of `plan` (kill, corrupt).
    pub fn new(plan: &FaultPlan, segment: Segment, seed: u64) -> Self {
        FaultDriver {
            segment,
            rng: fastrand::Rng::with_seed(seed ^ 0xFA17),
            kill_every: plan.has(Fault::Kill).then_some(plan.kill_every),
            corrupt_every: plan.has(Fault::Corrupt).then_some(plan.corrupt_every),
            next_kill: None,
            next_corrupt: None,
            kills: Vec::new(),
            corruptions: Vec::new(),
        }
    }

    /// Starts the schedules of a timed phase.
    pub fn start_phase(&mut self) {
        let now = Instant::now();
        self.next_kill = self.kill_every.map(|every| now + self.jitter(every));
        self.next_corrupt = self.corrupt_every.map(|every| now + every / 2);
    }

    /// Between 0.5 and 1.5 times `every`.
    fn jitter(&mut self, every: Duration) -> Duration {
        every.mul_f64(0.5 + self.rng.f64())
    }

    /// True when a kill is due (and schedules the next one).
    pub fn kill_due(&mut self) -> bool {
        match (self.next_kill, self.kill_every) {
            (Some(at), Some(every)) if Instant::now() >= at => {
                self.next_kill = Some(at + self.jitter(every));
                true
            }
            _ => false,
        }
    }

    /// A seeded choice among `n` candidates.
    pub fn pick(&mut self, n: usize) -> usize {
        self.rng.usize(0..n.max(1))
    }

    /// Injects the next corruption mode when one is due and at least `remaining` of the phase
    /// is left for the cache to recover.
    pub fn corrupt_if_due(&mut self, remaining: Duration) {
        let (Some(at), Some(every)) = (self.next_corrupt, self.corrupt_every) else {
            return;
        };
        if Instant::now() < at || remaining < every {
            return;
        }
        self.next_corrupt = Some(at + every);
        self.check_last();
        let mode = CorruptMode::ALL[self.corruptions.len() % CorruptMode::ALL.len()];
        let at = super::environment::now_rfc3339_ms();
        let error = corrupt::inject(&self.segment, mode, &mut self.rng)
            .err()
            .map(|e| format!("{e:#}"));
        self.corruptions.push(CorruptionRecord {
            mode,
            at,
            error,
            check_after: None,
        });
    }

    /// Records whether the database is sound again after the last injection (a few tries:
    /// a recovery may be under way).
    pub fn check_last(&mut self) {
        let Some(last) = self.corruptions.last_mut() else {
            return;
        };
        if last.check_after.is_some() {
            return;
        }
        let db = self.segment.db_path();
        let mut result = String::new();
        for _ in 0..10 {
            result = if db.exists() {
                samplers::quick_check(&db)
            } else {
                "ok (no database yet)".into()
            };
            if result.starts_with("ok") {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        last.check_after = Some(result);
    }
}
