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

/// What a deferred's chain held when it reached the end (Twisted's
/// successResultOf / failureResultOf, read later): `None` while pending.
pub type Seen<T> = std::rc::Rc<std::cell::RefCell<Option<Result<T, deferred::Failure>>>>;

/// Adds a pair to the end of `d`'s chain (through a clone) that stores the
/// result it gets; the chain goes on with none.
pub fn watch<T: 'static>(d: &deferred::Deferred<T>) -> Seen<T> {
    let seen: Seen<T> = Default::default();
    let s = seen.clone();
    let _ = d.clone().add_both(move |r| {
        *s.borrow_mut() = Some(r);
        Ok(())
    });
    seen
}

/// The value `watch` saw; panics if there was none or it was a failure.
pub fn success<T: 'static>(s: &Seen<T>) -> T {
    match s.borrow_mut().take() {
        Some(Ok(t)) => t,
        Some(Err(f)) => panic!("expected a success, got {f:?}"),
        None => panic!("expected a success, got no result"),
    }
}

/// The failure `watch` saw; panics otherwise.
pub fn failure<T: 'static>(s: &Seen<T>) -> deferred::Failure {
    match s.borrow_mut().take() {
        Some(Err(f)) => f,
        Some(Ok(_)) => panic!("expected a failure, got a success"),
        None => panic!("expected a failure, got no result"),
    }
}

/// Polls a future once with a waker that does nothing.
pub fn poll_now<F: std::future::Future + Unpin>(f: &mut F) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(f).poll(&mut cx)
}
