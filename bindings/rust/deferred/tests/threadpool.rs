//! User thread pools (deferToThreadPool) and the reactor pool's size: bad
//! input, where work runs, and every closure dropped exactly once whatever
//! is freed first.
mod common;
use common::{counter, n, pump, Counted};
use deferred::{Deferred, ErrorCode, Failure, Reactor, State, ThreadPool};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn kind(r: Result<impl std::fmt::Debug, Failure>) -> Option<ErrorCode> {
    r.expect_err("an error").kind()
}

/// Keeps a deferred's outcome for the test to read.
fn watch<T: 'static>(d: Deferred<T>) -> Rc<RefCell<Option<Result<T, Failure>>>> {
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    drop(d.add_both(move |r| {
        *s.borrow_mut() = Some(r);
        Ok(())
    }));
    seen
}

#[test]
fn bad_input_is_an_error() {
    assert_eq!(kind(ThreadPool::new(0, 0, None)), Some(ErrorCode::Invalid));
    assert_eq!(kind(ThreadPool::new(3, 2, None)), Some(ErrorCode::Invalid));
    assert_eq!(
        kind(ThreadPool::new(0, 2, Some("bad\0name"))),
        Some(ErrorCode::Invalid)
    );
    let p = ThreadPool::new(0, 2, Some("rust-pool")).unwrap();
    p.start().unwrap();
    assert_eq!(kind(p.start()), Some(ErrorCode::AlreadyStarted));
    p.stop().unwrap();
    p.stop().unwrap(); // stopping a stopped pool is fine
    let r = Reactor::new().unwrap();
    assert_eq!(kind(r.suggest_threadpool_size(0)), Some(ErrorCode::Invalid));
    r.suggest_threadpool_size(2).unwrap();
    let h = r.handle_local();
    drop(r);
    assert_eq!(
        kind(h.defer_to_threadpool(&p, || 1i64)),
        Some(ErrorCode::NotRunning)
    );
    assert_eq!(
        kind(h.suggest_threadpool_size(2)),
        Some(ErrorCode::NotRunning)
    );
}

#[test]
fn work_runs_on_the_pool_and_reports_on_the_reactor_thread() {
    let r = Reactor::new().unwrap();
    let p = ThreadPool::new(2, 4, Some("rust-pool")).unwrap();
    assert_eq!(p.threads(), 0);
    p.start().unwrap();
    assert!(p.threads() >= 2, "min threads started");
    let me = std::thread::current().id();
    let seen = watch(
        r.defer_to_threadpool(&p, move || std::thread::current().id() != me)
            .unwrap(),
    );
    let panicked = watch(
        r.defer_to_threadpool(&p, || -> i64 { panic!("in the pool") })
            .unwrap(),
    );
    pump(&r, || {
        seen.borrow().is_some() && panicked.borrow().is_some()
    });
    assert!(matches!(*seen.borrow(), Some(Ok(true))), "ran on a worker");
    let e = panicked.borrow_mut().take().unwrap().unwrap_err();
    assert!(e.is_panic());
    assert!(e.message().contains("in the pool"));
    // The pool is Send + Sync: stop it from another thread.
    std::thread::scope(|s| s.spawn(|| p.stop().unwrap()).join().unwrap());
    assert_eq!(p.threads(), 0);
}

#[test]
fn work_queued_on_a_stopped_pool_waits_for_its_start() {
    let r = Reactor::new().unwrap();
    let p = ThreadPool::new(0, 1, None).unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let seen = watch(
        r.defer_to_threadpool(&p, move || {
            r2.store(true, Ordering::SeqCst);
            7i64
        })
        .unwrap(),
    );
    for _ in 0..20 {
        r.iterate(std::time::Duration::ZERO).unwrap();
    }
    assert!(!ran.load(Ordering::SeqCst), "a stopped pool runs nothing");
    assert!(seen.borrow().is_none());
    p.start().unwrap();
    pump(&r, || seen.borrow().is_some());
    assert!(matches!(*seen.borrow(), Some(Ok(7))));
}

#[test]
fn closures_are_dropped_once_whatever_is_freed_first() {
    let c = counter();
    // Ran: dropped after it ran.
    {
        let r = Reactor::new().unwrap();
        let p = ThreadPool::new(1, 1, None).unwrap();
        p.start().unwrap();
        let k = Counted(c.clone(), 1);
        let seen = watch(r.defer_to_threadpool(&p, move || k.1).unwrap());
        pump(&r, || seen.borrow().is_some());
        assert!(matches!(*seen.borrow(), Some(Ok(1))));
    }
    assert_eq!(n(&c), 1);

    // The pool freed before it ever started: the work fails NotRunning on
    // its reactor, never runs, and its closure is dropped.
    let ran = Arc::new(AtomicBool::new(false));
    {
        let r = Reactor::new().unwrap();
        let p = ThreadPool::new(0, 1, None).unwrap();
        let k = Counted(c.clone(), 2);
        let r2 = ran.clone();
        let seen = watch(
            r.defer_to_threadpool(&p, move || {
                r2.store(true, Ordering::SeqCst);
                k.1
            })
            .unwrap(),
        );
        drop(p);
        pump(&r, || seen.borrow().is_some());
        let e = seen.borrow_mut().take().unwrap().unwrap_err();
        assert_eq!(e.kind(), Some(ErrorCode::NotRunning));
    }
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(n(&c), 2);

    // The reactor freed first: the deferred fails NotRunning during the
    // free; the closure is dropped when the pool reaches it (here, its free).
    {
        let p = ThreadPool::new(0, 1, None).unwrap();
        let r = Reactor::new().unwrap();
        let k = Counted(c.clone(), 3);
        let r2 = ran.clone();
        let d = r
            .defer_to_threadpool(&p, move || {
                r2.store(true, Ordering::SeqCst);
                k.1
            })
            .unwrap();
        let seen = watch(d);
        drop(r);
        let e = seen.borrow_mut().take().unwrap().unwrap_err();
        assert_eq!(e.kind(), Some(ErrorCode::NotRunning));
        assert_eq!(n(&c), 2, "still queued on the pool");
        drop(p);
    }
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(n(&c), 3);

    // Cancelled while queued: fails at once; the closure goes when the
    // pool reaches it (it starts now, and the late result is dropped).
    {
        let r = Reactor::new().unwrap();
        let p = ThreadPool::new(0, 1, None).unwrap();
        let k = Counted(c.clone(), 4);
        let d = r.defer_to_threadpool(&p, move || k).unwrap();
        d.cancel();
        assert_eq!(d.state(), State::Failed);
        let _ = d.add_errback(|f| {
            assert_eq!(f.kind(), Some(ErrorCode::Cancelled));
            Ok(Counted(counter(), 0))
        });
        p.start().unwrap();
        p.stop().unwrap();
        pump(&r, || n(&c) == 4);
    }
    assert_eq!(n(&c), 4);
}
