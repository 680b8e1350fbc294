//! The cache's advisory file lock (`flock` through `std::fs::File::lock*`).
//!
//! Operations hold `ast_cache_<id>.lock` shared; maintenance holds it exclusive. A second file,
//! `<lock>.gate`, gives maintenance priority: a maintainer takes the gate exclusive first, so no
//! new operation can start, then waits for the running ones to drain. Operations pass the gate
//! shared and release it as soon as they hold the main lock.
//!
//! `flock` belongs to an open file description, so every concurrent holder (thread) needs its
//! own descriptors: handles are pooled and each guard owns one.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shared for operations, exclusive for maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

impl LockMode {
    /// `shared` or `exclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Shared => "shared",
            LockMode::Exclusive => "exclusive",
        }
    }
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Not acquired within the timeout; `waited` is how long we tried.
    Timeout {
        waited: Duration,
    },
    Io(std::io::Error),
}

struct Handle {
    main: File,
    gate: File,
}

/// The lock files of one cache.
pub struct CacheLock {
    path: PathBuf,
    gate_path: PathBuf,
    idle: Mutex<Vec<Handle>>,
}

/// A held lock; released on drop.
pub struct LockGuard<'a> {
    lock: &'a CacheLock,
    handle: Option<Handle>,
    mode: LockMode,
    /// How long acquiring took.
    pub waited: Duration,
    /// Whether another holder made us wait (a `try_lock` would have blocked); a slow
    /// acquisition without contention is preemption, not a lock wait.
    pub contended: bool,
}

impl CacheLock {
    /// The lock at `path` (created on first use) and its gate.
    pub fn new(path: PathBuf) -> Self {
        let mut gate = path.clone().into_os_string();
        gate.push(".gate");
        CacheLock {
            path,
            gate_path: PathBuf::from(gate),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The main lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn handle(&self) -> std::io::Result<Handle> {
        if let Some(handle) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(handle);
        }
        let open = |p: &Path| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(p)
        };
        Ok(Handle {
            main: open(&self.path)?,
            gate: open(&self.gate_path)?,
        })
    }

    /// Takes the lock in `mode`, polling until `timeout` has passed.
    pub fn acquire(&self, mode: LockMode, timeout: Duration) -> Result<LockGuard<'_>, LockError> {
        let handle = self.handle().map_err(LockError::Io)?;
        let started = Instant::now();
        let acquired = match mode {
            LockMode::Shared => acquire_shared(&handle, started, timeout),
            LockMode::Exclusive => acquire_exclusive(&handle, started, timeout),
        };
        match acquired {
            Ok(contended) => Ok(LockGuard {
                lock: self,
                handle: Some(handle),
                mode,
                waited: started.elapsed(),
                contended,
            }),
            Err(err) => {
                self.give_back(handle);
                Err(err)
            }
        }
    }

    fn give_back(&self, handle: Handle) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle);
    }
}

impl LockGuard<'_> {
    /// The mode held.
    pub fn mode(&self) -> LockMode {
        self.mode
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle.main.unlock();
            if self.mode == LockMode::Exclusive {
                let _ = handle.gate.unlock();
            }
            self.lock.give_back(handle);
        }
    }
}

/// Takes gate then main, shared; true when either was contended.
fn acquire_shared(handle: &Handle, started: Instant, timeout: Duration) -> Result<bool, LockError> {
    let gate = poll(started, timeout, || handle.gate.try_lock_shared())?;
    let main = poll(started, timeout, || handle.main.try_lock_shared());
    let _ = handle.gate.unlock();
    Ok(gate | main?)
}

/// Takes gate then main, exclusive; true when either was contended.
fn acquire_exclusive(
    handle: &Handle,
    started: Instant,
    timeout: Duration,
) -> Result<bool, LockError> {
    let gate = poll(started, timeout, || handle.gate.try_lock())?;
    let main = poll(started, timeout, || handle.main.try_lock());
    if main.is_err() {
        let _ = handle.gate.unlock();
    }
    Ok(gate | main?)
}

/// Retries `try_lock` with short, growing sleeps until it succeeds or `timeout` passes.
/// Returns whether it ever had to wait.
fn poll(
    started: Instant,
    timeout: Duration,
    mut try_lock: impl FnMut() -> Result<(), TryLockError>,
) -> Result<bool, LockError> {
    let mut sleep = Duration::from_micros(20);
    let mut blocked = false;
    loop {
        match try_lock() {
            Ok(()) => return Ok(blocked),
            Err(TryLockError::Error(err)) => return Err(LockError::Io(err)),
            Err(TryLockError::WouldBlock) => blocked = true,
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(LockError::Timeout { waited });
        }
        std::thread::sleep(sleep.min(timeout - waited));
        sleep = (sleep * 2).min(Duration::from_millis(1));
    }
}
