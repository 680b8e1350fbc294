//! The rogue close: another handle in the same process opens, reads and closes the database
//! file. POSIX (fcntl) locks belong to the process and the inode, so that close drops every
//! lock SQLite holds on the file in this process.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the rogue handle strikes.
const EVERY: Duration = Duration::from_millis(20);

/// A running rogue thread and its count.
pub struct RogueCloser {
    pub closes: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl RogueCloser {
    /// Starts opening, reading and closing `db` every 20 ms.
    pub fn start(db: PathBuf) -> Self {
        let closes = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (count, flag) = (closes.clone(), done.clone());
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                if let Ok(mut file) = std::fs::File::open(&db) {
                    let mut header = [0u8; 100];
                    let _ = file.read(&mut header);
                    drop(file);
                    count.fetch_add(1, Ordering::Relaxed);
                }
                crate::util::sleep_unless(&flag, EVERY);
            }
        });
        RogueCloser {
            closes,
            done,
            handle: Some(handle),
        }
    }

    /// Stops the thread and returns how many closes it made.
    pub fn stop(mut self) -> u64 {
        self.done.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        self.closes.load(Ordering::Relaxed)
    }
}
