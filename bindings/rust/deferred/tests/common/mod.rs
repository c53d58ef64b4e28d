#![allow(dead_code)]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts its drops: proves every value and closure is dropped exactly once.
#[derive(Debug)]
pub struct Counted(pub Arc<AtomicUsize>, pub i64);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

pub fn n(c: &Arc<AtomicUsize>) -> usize {
    c.load(Ordering::SeqCst)
}

/// Runs the reactor's loop until `done()` (calls from other threads, task
/// wakes, pool results), at most a few seconds.
pub fn pump(r: &deferred::ReactorRef, mut done: impl FnMut() -> bool) {
    for _ in 0..5000 {
        if done() {
            return;
        }
        // iterate(0) and a sleep, not iterate(1 ms): dfr_reactor_iterate with a
        // wait can block for good when its wait timer expires before the poll
        // (seen under valgrind on a loaded machine; reported).
        r.iterate(std::time::Duration::ZERO).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("pump: still not done");
}
