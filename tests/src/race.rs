//! Racing threads for the conformance cases: released together, retried when the database asks,
//! and stopped by a watchdog rather than left to hang CI when a lock-order bug deadlocks them.

use std::{
    sync::{
        Arc, Barrier,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use jobstore_storage::{StorageError, Store};

/// How long a race may run before the whole test binary is stopped. Not a speed target: a
/// hang guard.
pub const HANG: Duration = Duration::from_secs(600);

/// Runs `f` on a thread per store, all released at once, and returns what each returned.
pub fn at_once<T: Send>(stores: &[Store], f: impl Fn(&Store, usize) -> T + Sync) -> Vec<T> {
    let _watchdog = Watchdog::arm();
    let barrier = Barrier::new(stores.len());
    std::thread::scope(|scope| {
        let threads: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let (barrier, f) = (&barrier, &f);
                scope.spawn(move || {
                    barrier.wait();
                    f(store, i)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a racing thread panicked"))
            .collect()
    })
}

/// Runs `a` and `b` on two threads released together.
pub fn together<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    let _watchdog = Watchdog::arm();
    let barrier = Barrier::new(2);
    std::thread::scope(|scope| {
        let first = scope.spawn(|| {
            barrier.wait();
            a()
        });
        barrier.wait();
        let second = b();
        (first.join().expect("a racing thread panicked"), second)
    })
}

/// Calls `f` again while it fails with an error the database asks to retry.
pub fn retrying<T>(mut f: impl FnMut() -> Result<T, StorageError>) -> Result<T, StorageError> {
    loop {
        match f() {
            Err(e) if e.is_transient() => continue,
            other => return other,
        }
    }
}

/// Aborts the process if not dropped within [`HANG`].
struct Watchdog(Arc<AtomicBool>);

impl Watchdog {
    fn arm() -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let watched = Arc::clone(&done);
        std::thread::spawn(move || {
            let deadline = Instant::now() + HANG;
            while Instant::now() < deadline {
                if watched.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            // The harness's only word before it stops the binary: a test cannot fail from here.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("racing threads still running after {HANG:?}: stopping the tests");
            }
            std::process::abort();
        });
        Watchdog(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
