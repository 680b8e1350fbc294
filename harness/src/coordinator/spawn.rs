//! Spawning one phase's worker processes (and the interferer), watching them, collecting
//! their results.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::fault_driver::{FaultDriver, KillRecord};
use crate::interference::{ActualWindow, InterferenceSpec, PlannedWindow};
use crate::progress::{PhaseLength, Progress};
use crate::util;
use crate::worker::spec::{Phase, Plan, WorkerResult, WorkerSpec};

/// How long stopping workers may take before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// One phase's outcome.
pub struct PhaseRun {
    pub phase: Phase,
    pub results: Vec<WorkerResult>,
    pub windows: Vec<ActualWindow>,
    pub seconds: f64,
    pub interrupted: bool,
}

/// A running child process and its live progress counters.
struct Running {
    child: Child,
    status: Option<ExitStatus>,
    ops: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
}

impl Running {
    fn poll(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status.is_some()
    }

    fn signal(&self, signal: i32) {
        if self.status.is_none()
            && let Ok(pid) = i32::try_from(self.child.id())
        {
            // SAFETY: kill(2) on our own, not yet reaped child.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }
}

/// What running a phase needs from the coordinator.
pub struct PhaseLauncher<'a> {
    pub exe: &'a Path,
    pub workdir: &'a Path,
    pub run_id: &'a str,
    pub stop: &'a AtomicBool,
    pub progress: &'a mut Progress,
}

impl PhaseLauncher<'_> {
    /// Runs `specs` as worker processes (plus the interferer when `windows` is not empty) and
    /// waits for them; a worker that fails is a harness error unless the run is stopping.
    pub fn run_phase(
        &mut self,
        phase: Phase,
        mut specs: Vec<WorkerSpec>,
        interference: Option<InterferenceSpec>,
        length: PhaseLength,
        hard_limit: Duration,
        mut faults: Option<&mut FaultDriver>,
    ) -> anyhow::Result<PhaseRun> {
        let started = Instant::now();
        let timed = matches!(length, PhaseLength::Time(_));
        self.progress.start_phase(phase.as_str(), length);
        let mut interferer = match &interference {
            Some(spec) => Some(self.spawn_role("__interfere", spec, &spec.result_path)?.0),
            None => None,
        };
        let mut workers = Vec::new();
        for spec in &specs {
            workers.push(self.spawn_worker(spec)?);
        }
        let deadline = timed_deadline(&specs, started);
        if let Some(driver) = faults.as_deref_mut() {
            driver.start_phase();
        }
        let interrupted = loop {
            match self.watch(
                &mut workers,
                started,
                timed,
                hard_limit,
                deadline.is_some() && faults.is_some(),
            )? {
                Watch::Done(interrupted) => break interrupted,
                Watch::Tick => {
                    let (Some(driver), Some(deadline)) = (faults.as_deref_mut(), deadline) else {
                        continue;
                    };
                    driver.corrupt_if_due(deadline.saturating_duration_since(Instant::now()));
                    if driver.kill_due() {
                        self.kill_and_respawn(driver, phase, &mut specs, &mut workers, deadline)?;
                    }
                }
            }
        };
        if let Some(child) = interferer.as_mut() {
            finish_interferer(child)?;
        }
        self.check_exits(&workers, interrupted)?;
        let results = specs
            .iter()
            .filter_map(
                |spec| match util::read_json::<WorkerResult>(&spec.result_path) {
                    Ok(result) => Some(Ok(result)),
                    Err(_) if interrupted => None,
                    Err(err) => Some(Err(err)),
                },
            )
            .collect::<anyhow::Result<Vec<_>>>()?;
        let windows = match &interference {
            Some(spec) => util::read_json(&spec.result_path).unwrap_or_default(),
            None => Vec::new(),
        };
        let ops: u64 = results.iter().map(|r| r.ops.values().sum::<u64>()).sum();
        self.progress.finish_phase(&format!(
            "{ops} ops in {:.1}s",
            started.elapsed().as_secs_f64()
        ));
        Ok(PhaseRun {
            phase,
            results,
            windows,
            seconds: started.elapsed().as_secs_f64(),
            interrupted,
        })
    }

    fn spawn_worker(&self, spec: &WorkerSpec) -> anyhow::Result<Running> {
        let (child, _) = self.spawn_role("__worker", spec, &spec.result_path)?;
        let mut running = Running {
            child,
            status: None,
            ops: Arc::new(AtomicU64::new(0)),
            errors: Arc::new(AtomicU64::new(0)),
        };
        if let Some(stdout) = running.child.stdout.take() {
            let (ops, errors) = (running.ops.clone(), running.errors.clone());
            std::thread::spawn(move || read_progress(stdout, &ops, &errors));
        }
        Ok(running)
    }

    /// Writes the spec next to its result file and starts `soak <role> <spec>`.
    fn spawn_role<T: serde::Serialize>(
        &self,
        role: &str,
        spec: &T,
        result: &Path,
    ) -> anyhow::Result<(Child, PathBuf)> {
        let spec_path = result.with_extension("spec.json");
        util::write_json_atomic(&spec_path, spec)?;
        let child = Command::new(self.exe)
            .arg(role)
            .arg(&spec_path)
            .current_dir(self.workdir)
            .env_remove("TRIFECTA_TELEMETRY_DIR")
            .env_remove("TRIFECTA_NO_TELEMETRY")
            .env_remove("TRIFECTA_AST_PERSIST")
            .env_remove("TRIFECTA_TELEMETRY_MAX_BYTES")
            .env("TRIFECTA_RUN_ID", self.run_id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {} {role}", self.exe.display()))?;
        Ok((child, spec_path))
    }

    /// SIGKILLs a random running worker in the middle of whatever it is doing and starts a
    /// replacement for the rest of the phase.
    fn kill_and_respawn(
        &mut self,
        driver: &mut FaultDriver,
        phase: Phase,
        specs: &mut [WorkerSpec],
        workers: &mut [Running],
        deadline: Instant,
    ) -> anyhow::Result<()> {
        let alive: Vec<usize> = (0..workers.len())
            .filter(|&i| workers[i].status.is_none())
            .collect();
        let remaining = deadline.saturating_duration_since(Instant::now());
        if alive.is_empty() || remaining < Duration::from_millis(300) {
            return Ok(());
        }
        let index = alive[driver.pick(alive.len())];
        let victim = &mut workers[index];
        let pid = victim.child.id();
        victim.signal(libc::SIGKILL);
        let _ = victim.child.wait();
        driver.kills.push(KillRecord {
            pid,
            ops_reported: victim.ops.load(Ordering::Relaxed),
        });
        let mut spec = specs[index].clone();
        if let Plan::Timed { duration_ms, .. } = &mut spec.plan {
            *duration_ms = remaining.as_millis() as u64;
        }
        let name = format!(
            "{}-worker-{}-r{}.json",
            phase.as_str(),
            spec.worker,
            driver.kills.len()
        );
        spec.result_path = spec.result_path.with_file_name(name);
        workers[index] = self.spawn_worker(&spec)?;
        specs[index] = spec;
        Ok(())
    }

    /// Waits for every worker, showing progress; on a stop request, signals them and waits
    /// (killing after a grace period). With `ticks`, returns every poll interval so the
    /// caller can inject faults.
    fn watch(
        &mut self,
        workers: &mut [Running],
        started: Instant,
        timed: bool,
        hard_limit: Duration,
        ticks: bool,
    ) -> anyhow::Result<Watch> {
        let mut stop_sent: Option<Instant> = None;
        loop {
            for worker in workers.iter_mut() {
                worker.poll();
            }
            if workers.iter().all(|w| w.status.is_some()) {
                return Ok(Watch::Done(
                    stop_sent.is_some() || self.stop.load(Ordering::Relaxed),
                ));
            }
            let elapsed = started.elapsed();
            if self.stop.load(Ordering::Relaxed) && stop_sent.is_none() {
                workers.iter().for_each(|w| w.signal(libc::SIGTERM));
                stop_sent = Some(Instant::now());
            }
            let overdue = elapsed > hard_limit;
            let grace_over = stop_sent.is_some_and(|at| at.elapsed() > STOP_GRACE);
            if overdue || grace_over {
                workers.iter().for_each(|w| w.signal(libc::SIGKILL));
                for worker in workers.iter_mut() {
                    let _ = worker.child.wait();
                }
                if overdue && stop_sent.is_none() {
                    bail!("workers did not finish within {hard_limit:?}; they were killed");
                }
                return Ok(Watch::Done(true));
            }
            let ops = workers.iter().map(|w| w.ops.load(Ordering::Relaxed)).sum();
            let errors = workers
                .iter()
                .map(|w| w.errors.load(Ordering::Relaxed))
                .sum();
            let position = if timed {
                elapsed.as_millis() as u64
            } else {
                ops
            };
            self.progress.update(position, ops, errors, elapsed);
            std::thread::sleep(POLL);
            if ticks && stop_sent.is_none() {
                return Ok(Watch::Tick);
            }
        }
    }

    fn check_exits(&self, workers: &[Running], interrupted: bool) -> anyhow::Result<()> {
        for (index, worker) in workers.iter().enumerate() {
            match worker.status {
                Some(status) if status.success() => {}
                _ if interrupted => {}
                Some(status) => bail!("worker {index} failed: {status}"),
                None => bail!("worker {index} did not exit"),
            }
        }
        Ok(())
    }
}

/// What one call of `watch` saw.
enum Watch {
    /// Every worker exited; whether the phase was interrupted.
    Done(bool),
    /// A poll interval passed (fault injection may act).
    Tick,
}

/// When a timed phase ends (from its plan).
fn timed_deadline(specs: &[WorkerSpec], started: Instant) -> Option<Instant> {
    specs.iter().find_map(|spec| match spec.plan {
        Plan::Timed { duration_ms, .. } => Some(started + Duration::from_millis(duration_ms)),
        Plan::Shard { .. } => None,
    })
}

/// Stops the interferer (its remaining windows are skipped) and checks it exited cleanly.
fn finish_interferer(child: &mut Child) -> anyhow::Result<()> {
    if child.try_wait()?.is_none()
        && let Ok(pid) = i32::try_from(child.id())
    {
        // SAFETY: kill(2) on our own, not yet reaped child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("the interference process failed: {status}");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the interference process did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_progress(stdout: std::process::ChildStdout, ops: &AtomicU64, errors: &AtomicU64) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
            ops.store(value["ops"].as_u64().unwrap_or(0), Ordering::Relaxed);
            errors.store(value["errors"].as_u64().unwrap_or(0), Ordering::Relaxed);
        }
    }
}

/// Planned windows in ms since the epoch, widened by `slack_ms`, for workers' attribution.
pub fn widened(windows: &[PlannedWindow], slack_ms: f64) -> Vec<(f64, f64)> {
    windows
        .iter()
        .map(|w| (w.start_ms - slack_ms, w.start_ms + w.duration_ms + slack_ms))
        .collect()
}
