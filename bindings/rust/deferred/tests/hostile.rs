//! A hostile program against the safe API (the Rust counterpart of
//! tests/core/test_hostile.cpp, bindings/go/hostile_test.go and
//! bindings/node/test/hostile.test.js): panics in every kind of closure,
//! re-entrant calls, bad input and huge counts.  Nothing may crash, abort,
//! unwind into C, hang or lose a result; every closure and value is dropped
//! exactly once.  Lifetimes and drop orders: hostile_lifetimes.rs.
mod common;
use common::{counter, failure, n, pump, success, watch, Counted};
use deferred::*;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn kind<T>(r: Result<T, Failure>) -> Option<ErrorCode> {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(f) => f.kind(),
    }
}

/// Panics when dropped (outside an unwind): the worst value to hand a chain.
struct Bomb(Arc<AtomicUsize>);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        if !std::thread::panicking() {
            panic!("Bomb dropped");
        }
    }
}

const SEC: Duration = Duration::from_secs(1);

// ---- panics in every kind of closure ----------------------------------

#[test]
fn panics_in_chain_callbacks_become_failures() {
    let d: Deferred<i64> = Deferred::new();
    let seen = watch(
        &d.clone()
            .add_callback(|_| -> Result<i64, Failure> { panic!("in callback") })
            .add_errback(|f| {
                assert!(f.is_panic(), "{f}");
                assert!(f.message().contains("in callback"));
                panic!("in errback")
            })
            .add_both(|r: Result<i64, Failure>| -> Result<i64, Failure> {
                assert!(r.unwrap_err().is_panic());
                std::panic::panic_any(42u8)
            })
            .add_errback(|f| {
                assert!(f.is_panic());
                Ok(1)
            })
            .add_callback_deferred(|_| -> Deferred<i64> { panic!("in deferred callback") }),
    );
    d.callback(0).unwrap();
    let f = failure(&seen);
    assert!(f.is_panic() && f.message().contains("in deferred callback"));
}

#[test]
fn a_panic_payload_that_panics_when_dropped_is_contained() {
    let c = counter();
    let d: Deferred<i64> = Deferred::new();
    let c2 = c.clone();
    let seen = watch(
        &d.clone()
            .add_callback(move |_| -> Result<i64, Failure> { std::panic::panic_any(Bomb(c2)) }),
    );
    d.callback(1).unwrap();
    assert!(failure(&seen).is_panic());
    assert_eq!(n(&c), 1);
}

#[test]
fn a_panicking_canceller_still_cancels() {
    let d: Deferred<i64> = Deferred::with_canceller(|_| panic!("in canceller"));
    let seen = watch(&d);
    d.cancel();
    assert!(failure(&seen).is_cancelled());
    // A canceller that fires the deferred and then panics: the result stands.
    let d: Deferred<i64> = Deferred::with_canceller(|d| {
        d.callback(5).unwrap();
        panic!("after firing")
    });
    let seen = watch(&d);
    d.cancel();
    assert_eq!(success(&seen), 5);
}

#[test]
fn a_value_whose_drop_panics_is_reported_not_aborted() {
    let c = counter();
    // Freed unfired holding it, discarded by a chain, a queue freed with it.
    drop(Deferred::succeed(Bomb(c.clone())));
    let d: Deferred<Bomb> = Deferred::new();
    d.callback(Bomb(c.clone())).unwrap();
    drop(d.add_callback(|_b| Ok(())));
    let q: Queue<Bomb> = Queue::new(None, None);
    q.put(Bomb(c.clone())).unwrap();
    drop(q);
    assert_eq!(n(&c), 3);
}

#[test]
fn a_closure_whose_drop_panics_is_reported_not_aborted() {
    let c = counter();
    let bomb = Bomb(c.clone());
    let d: Deferred<i64> = Deferred::new();
    let d2 = d.clone().add_callback(move |x| {
        let _keep = &bomb;
        Ok(x)
    });
    drop(d2);
    drop(d); // freed unfired: the closure (and its Bomb) goes
    assert_eq!(n(&c), 1);
    // Dropped after it ran (the box of the closure, emptied by the run).
    let bomb = Bomb(c.clone());
    let d: Deferred<i64> = Deferred::new();
    let seen = watch(&d.clone().add_callback(move |x| {
        drop(bomb); // panics inside the callback: a failure
        Ok(x)
    }));
    d.callback(1).unwrap();
    assert!(failure(&seen).is_panic());
    assert_eq!(n(&c), 2);
}

#[test]
fn panics_in_reactor_closures_are_reported_and_the_reactor_goes_on() {
    let r = Reactor::manual_clock().unwrap();
    let ran = Rc::new(Cell::new(0));
    r.call_later(SEC, || panic!("in call_later")).unwrap();
    let ran2 = ran.clone();
    r.call_later(SEC, move || ran2.set(ran2.get() + 1)).unwrap();
    let later: Deferred<i64> = r
        .defer_later(SEC, || -> Result<i64, Failure> { panic!("in defer_later") })
        .unwrap();
    let later = watch(&later);
    let lc = r
        .looping_call(|| -> Result<(), Failure> { panic!("in looping call") })
        .unwrap();
    let lcd = watch(&lc.start(SEC, false).unwrap());
    let timed: Deferred<i64> = Deferred::new();
    timed
        .add_timeout_with(&r, SEC, |_| -> Result<i64, Failure> {
            panic!("in on_timeout")
        })
        .unwrap();
    let timed = watch(&timed);
    r.advance(SEC).unwrap();
    assert_eq!(ran.get(), 1);
    assert!(failure(&later).is_panic());
    assert!(failure(&lcd).is_panic());
    assert!(!lc.running());
    assert!(failure(&timed).is_panic());
}

#[test]
fn panics_in_threaded_closures_are_contained() {
    let r = Reactor::new().unwrap();
    let d: Deferred<i64> = r
        .defer_to_thread(|| -> i64 { panic!("on the pool") })
        .unwrap();
    let seen = watch(&d);
    let pool = ThreadPool::new(0, 1, None).unwrap();
    pool.start().unwrap();
    let d2: Deferred<i64> = r
        .defer_to_threadpool(&pool, || -> i64 { panic!("on my pool") })
        .unwrap();
    let seen2 = watch(&d2);
    let h = r.handle();
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = ran.clone();
    std::thread::spawn(move || {
        h.call_from_thread(|| panic!("from a thread")).unwrap();
        h.call_from_thread(move || {
            ran2.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    })
    .join()
    .unwrap();
    pump(&r, || {
        seen.borrow().is_some() && seen2.borrow().is_some() && ran.load(Ordering::SeqCst) == 1
    });
    assert!(failure(&seen).is_panic());
    assert!(failure(&seen2).is_panic());
}

#[test]
fn panics_in_spawned_futures_fail_their_deferred() {
    let r = Reactor::manual_clock().unwrap();
    // At the first poll (inside spawn_local).
    let d: Deferred<i64> = r.spawn_local(async { panic!("first poll") });
    assert!(failure(&watch(&d)).is_panic());
    // At a later poll (inside the reactor's call).
    let rr = r.handle_local();
    let d: Deferred<i64> = r.spawn_local(async move {
        rr.defer_later(SEC, || Ok(())).unwrap().await?;
        panic!("later poll")
    });
    let seen = watch(&d);
    r.advance(SEC).unwrap();
    pump(&r, || seen.borrow().is_some());
    assert!(failure(&seen).is_panic());
    // ReactorHandle::spawn: the closure, then the future.
    let h = r.handle();
    let a = h.spawn(|_r| -> Deferred<i64> { panic!("spawn closure") });
    let b = h.spawn(|_r| async {
        if true {
            panic!("spawn future")
        }
        Ok(0i64)
    });
    pump(&r, || true);
    for _ in 0..3 {
        r.iterate(Duration::ZERO).unwrap();
    }
    assert!(a.wait().unwrap_err().is_panic());
    assert!(b.wait().unwrap_err().is_panic());
}

#[test]
fn panics_in_triggers_locks_and_maybe_deferred_are_contained() {
    let r = Reactor::new().unwrap();
    r.add_system_event_trigger(Phase::Before, SystemEvent::Startup, || panic!("in trigger"))
        .unwrap();
    let h = r.handle();
    r.add_system_event_trigger(Phase::During, SystemEvent::Startup, move || {
        h.stop().unwrap();
        None
    })
    .unwrap();
    r.run().unwrap();
    let l = Lock::new();
    let a = watch(&l.run(|| -> Result<i64, Failure> { panic!("in lock") }));
    assert!(failure(&a).is_panic());
    assert!(!l.locked(), "a panic releases the lock");
    let s = Semaphore::new(1).unwrap();
    let b = watch(&s.run_deferred(|| -> Deferred<i64> { panic!("in semaphore") }));
    assert!(failure(&b).is_panic());
    assert_eq!(s.tokens(), 1);
    let m: Deferred<i64> = maybe_deferred(|| -> Result<i64, Failure> { panic!("maybe") });
    assert!(failure(&watch(&m)).is_panic());
}

#[test]
fn a_panicking_unhandled_error_hook_is_contained() {
    set_unhandled_error_hook(Some(Box::new(|_f: &Failure| panic!("in the hook"))));
    let d: Deferred<i64> = Deferred::fail(Failure::msg("nobody handles me"));
    drop(d);
    set_unhandled_error_hook(None);
}

#[test]
fn a_panicking_waker_does_not_unwind_into_c() {
    use std::task::{Context, RawWaker, RawWakerVTable, Waker};
    fn clone(p: *const ()) -> RawWaker {
        RawWaker::new(p, &VTABLE)
    }
    fn wake(_: *const ()) {
        panic!("in wake")
    }
    fn drop_w(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_w);
    // SAFETY: the vtable's functions ignore the data pointer.
    let w = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let d: Deferred<i64> = Deferred::new();
    let mut fut = d.clone().into_future_local();
    let mut cx = Context::from_waker(&w);
    assert!(std::pin::Pin::new(&mut fut).poll(&mut cx).is_pending());
    d.callback(3).unwrap(); // wakes: the panic stays in Rust
    assert!(matches!(
        common::poll_now(&mut fut),
        std::task::Poll::Ready(Ok(3))
    ));
}

// ---- re-entrancy -------------------------------------------------------

#[test]
fn firing_cancelling_and_adding_from_inside_a_callback() {
    let d: Deferred<i64> = Deferred::new();
    let me = d.clone();
    let later = Rc::new(Cell::new(0));
    let l2 = later.clone();
    let seen = watch(&d.clone().add_callback(move |x| {
        assert_eq!(kind(me.callback(2)), Some(ErrorCode::AlreadyCalled));
        assert_eq!(
            kind(me.errback(Failure::msg("late"))),
            Some(ErrorCode::AlreadyCalled)
        );
        me.cancel(); // has a result: nothing happens
        assert_eq!(kind(me.unpause()), Some(ErrorCode::Invalid));
        let _ = me.clone().add_callback(move |y: i64| {
            l2.set(y);
            Ok(())
        });
        Ok(x + 1)
    }));
    d.callback(1).unwrap();
    // The callback added from inside runs after the watcher, with none.
    assert_eq!(success(&seen), 2);
    assert_eq!(later.get(), 0);
}

#[test]
fn awaiting_a_deferred_inside_its_own_callback() {
    let r = Reactor::manual_clock().unwrap();
    let d: Deferred<i64> = Deferred::new();
    let me = d.clone();
    let rr = r.handle_local();
    let inner: Rc<RefCell<Option<Deferred<i64>>>> = Default::default();
    let inner2 = inner.clone();
    let d2 = d.clone().add_callback(move |x| {
        // The await goes at the end of the chain: it gets what this returns.
        let got = rr.spawn_local(async move { me.await });
        *inner2.borrow_mut() = Some(got);
        Ok(x * 10)
    });
    d.callback(4).unwrap();
    drop(d2);
    let got = watch(&inner.borrow_mut().take().unwrap());
    pump(&r, || got.borrow().is_some());
    assert_eq!(success(&got), 40);
}

#[test]
fn chaining_a_deferred_to_itself_or_in_a_cycle_is_an_error() {
    let a: Deferred<i64> = Deferred::new();
    let me = a.clone();
    // Chained to itself: the chain's own callback finds it fired.
    let seen = watch(&a.clone().chain(&me).unwrap());
    a.callback(1).unwrap();
    assert_eq!(failure(&seen).kind(), Some(ErrorCode::AlreadyCalled));
    // Two deferreds chained to each other.
    let x: Deferred<i64> = Deferred::new();
    let y: Deferred<i64> = Deferred::new();
    let xs = watch(&x.clone().chain(&y).unwrap());
    let ys = watch(&y.clone().chain(&x).unwrap());
    y.callback(2).unwrap();
    // y fires x, whose chain finds y fired: x's result is the failure.
    success(&ys);
    assert_eq!(failure(&xs).kind(), Some(ErrorCode::AlreadyCalled));
    // A callback returning its own deferred: a failure, not a hang.
    let b: Deferred<i64> = Deferred::new();
    let bb = b.clone();
    let seen = watch(&b.clone().add_callback_deferred(move |_| bb));
    b.callback(1).unwrap();
    let f = failure(&seen);
    assert!(!f.is_panic(), "{f}");
    drop(a);
}

#[test]
fn run_iterate_advance_and_stop_from_the_wrong_places() {
    let r = Rc::new(Reactor::new().unwrap());
    let rr = r.clone();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    r.call_later(Duration::ZERO, move || {
        s.borrow_mut().push(kind(rr.run()));
        s.borrow_mut().push(kind(rr.iterate(Duration::ZERO)));
        rr.stop().unwrap();
        s.borrow_mut().push(kind(rr.stop()));
    })
    .unwrap();
    r.run().unwrap();
    assert_eq!(
        *seen.borrow(),
        vec![
            Some(ErrorCode::AlreadyRunning),
            Some(ErrorCode::AlreadyRunning),
            Some(ErrorCode::NotRunning)
        ]
    );
    assert_eq!(kind(r.run()), Some(ErrorCode::NotRestartable));
    assert_eq!(kind(r.stop()), Some(ErrorCode::NotRunning));
    // Manual clock: advance from inside advance (allowed, as Twisted's
    // Clock), iterate from inside advance.
    let m = Reactor::manual_clock().unwrap();
    let mm = m.handle_local();
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    m.call_later(SEC, move || g.set(Some(mm.advance(SEC).is_ok())))
        .unwrap();
    m.advance(SEC).unwrap();
    assert_eq!(got.get(), Some(true));
    assert_eq!(m.seconds(), 2.0);
    let got = Rc::new(Cell::new(None));
    let mm = m.handle_local();
    let g = got.clone();
    m.call_later(Duration::ZERO, move || {
        g.set(Some(mm.iterate(Duration::ZERO).is_ok()))
    })
    .unwrap();
    m.advance(Duration::ZERO).unwrap();
    assert!(got.get().is_some());
    // iterate from inside iterate: libuv's loop is not re-entrant.
    let q = Reactor::new().unwrap();
    let qq = q.handle_local();
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    q.call_later(Duration::ZERO, move || {
        g.set(Some(kind(qq.iterate(Duration::ZERO))))
    })
    .unwrap();
    pump(&q, || got.get().is_some());
    assert_eq!(got.get(), Some(Some(ErrorCode::AlreadyRunning)));
    // Waiting for a remote result on the reactor thread would wait on itself.
    let h = m.handle();
    let rem = h.spawn(|_| Deferred::succeed(1i64));
    assert_eq!(kind(rem.wait()), Some(ErrorCode::Deadlock));
}

#[test]
fn delayed_and_looping_calls_used_from_inside_themselves() {
    let r = Reactor::manual_clock().unwrap();
    let slot: Rc<RefCell<Option<DelayedCall>>> = Default::default();
    let s = slot.clone();
    let out = Rc::new(RefCell::new(Vec::new()));
    let o = out.clone();
    let dc = r
        .call_later(SEC, move || {
            let dc = s.borrow_mut().take().unwrap();
            o.borrow_mut().push(kind(dc.cancel()));
            o.borrow_mut().push(kind(dc.reset(SEC)));
            assert!(!dc.active());
        })
        .unwrap();
    *slot.borrow_mut() = Some(dc);
    r.advance(SEC).unwrap();
    assert_eq!(
        *out.borrow(),
        vec![Some(ErrorCode::AlreadyRan), Some(ErrorCode::AlreadyRan)]
    );
    // A LoopingCall that starts itself again, then drops its own handle.
    let lslot: Rc<RefCell<Option<LoopingCall>>> = Default::default();
    let ls = lslot.clone();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let lc = r
        .looping_call(move || -> Result<(), Failure> {
            c.set(c.get() + 1);
            let me = ls.borrow_mut().take();
            if let Some(me) = me {
                assert_eq!(kind(me.start(SEC, true)), Some(ErrorCode::AlreadyRunning));
                drop(me); // stops it: the start deferred fires
            }
            Ok(())
        })
        .unwrap();
    let started = watch(&lc.start(SEC, true).unwrap());
    *lslot.borrow_mut() = Some(lc);
    r.advance(SEC).unwrap();
    r.advance(SEC).unwrap();
    assert_eq!(calls.get(), 2);
    assert!(started.borrow().is_some());
}

#[test]
fn a_task_that_wakes_itself_in_every_poll() {
    struct Spin(u32);
    impl std::future::Future for Spin {
        type Output = Result<u32, Failure>;
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Self::Output> {
            if self.0 == 0 {
                return std::task::Poll::Ready(Ok(7));
            }
            self.0 -= 1;
            cx.waker().wake_by_ref();
            cx.waker().wake_by_ref();
            let w = cx.waker().clone();
            w.wake(); // the consuming form too
            std::task::Poll::Pending
        }
    }
    let r = Reactor::new().unwrap();
    let seen = watch(&r.spawn_local(Spin(1000)));
    pump(&r, || seen.borrow().is_some());
    assert_eq!(success(&seen), 7);
}

#[test]
fn thread_pool_misuse_from_its_own_jobs() {
    let r = Reactor::new().unwrap();
    let pool = Arc::new(ThreadPool::new(1, 2, Some("hostile")).unwrap());
    pool.start().unwrap();
    let p = pool.clone();
    let d: Deferred<(Option<ErrorCode>, Option<ErrorCode>)> = r
        .defer_to_threadpool(&pool, move || {
            let stop = p.stop().err().and_then(|f| f.kind());
            let start = p.start().err().and_then(|f| f.kind());
            (stop, start)
        })
        .unwrap();
    let seen = watch(&d);
    pump(&r, || seen.borrow().is_some());
    let (stop, start) = success(&seen);
    assert_eq!(stop, Some(ErrorCode::Deadlock));
    assert_eq!(start, Some(ErrorCode::AlreadyStarted));
    // The last handle dropped inside one of its own jobs: kept (the C
    // library cannot free a pool under its own worker), never a crash.
    let p = pool.clone();
    drop(pool);
    let d: Deferred<i64> = r
        .defer_to_threadpool(&p.clone(), move || {
            for _ in 0..5000 {
                if Arc::strong_count(&p) == 1 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(p);
            1
        })
        .unwrap();
    let seen = watch(&d);
    pump(&r, || seen.borrow().is_some());
    assert_eq!(success(&seen), 1);
}

// ---- bad input -----------------------------------------------------------

#[test]
fn absurd_durations_are_errors_and_drop_their_closures() {
    let c = counter();
    let r = Reactor::manual_clock().unwrap();
    let k = Counted(c.clone(), 0);
    assert_eq!(
        kind(r.call_later(Duration::MAX, move || drop(k))),
        Some(ErrorCode::Invalid)
    );
    let k = Counted(c.clone(), 0);
    // deferLater answers with a deferred that already failed.
    let late = r.defer_later::<i64, _>(Duration::MAX, move || Ok(std::convert::identity(&k).1));
    assert_eq!(
        failure(&watch(&late.unwrap())).kind(),
        Some(ErrorCode::Invalid)
    );
    assert_eq!(n(&c), 2);
    assert_eq!(kind(r.advance(Duration::MAX)), Some(ErrorCode::Invalid));
    assert_eq!(kind(r.iterate(Duration::MAX)), Some(ErrorCode::Invalid));
    let d: Deferred<i64> = Deferred::new();
    assert_eq!(
        kind(d.add_timeout(&r, Duration::MAX)),
        Some(ErrorCode::Invalid)
    );
    let k = Counted(c.clone(), 0);
    assert_eq!(
        kind(d.add_timeout_with(&r, Duration::MAX, move |x| {
            let _k = &k;
            x
        })),
        Some(ErrorCode::Invalid)
    );
    assert_eq!(n(&c), 3);
    let lc = r.looping_call(|| Ok(())).unwrap();
    let refused = lc.start(Duration::MAX, true).unwrap(); // a failed deferred
    assert_eq!(failure(&watch(&refused)).kind(), Some(ErrorCode::Invalid));
    assert!(!lc.running());
    let dc = r.call_later(SEC, || ()).unwrap();
    assert_eq!(kind(dc.reset(Duration::MAX)), Some(ErrorCode::Invalid));
    dc.delay(Duration::MAX).unwrap_or(()); // saturates or refuses; never UB
    r.advance(Duration::from_secs(4_000_000_000)).unwrap();
    r.advance(Duration::from_secs(4_000_000_000)).unwrap(); // the end of time
    assert!(r.seconds().is_finite());
    // Zero: a timer due now, a timeout that fires at the next advance.
    let z: Deferred<i64> = r.defer_later(Duration::ZERO, || Ok(1)).unwrap();
    d.add_timeout(&r, Duration::ZERO).unwrap();
    let seen = watch(&d);
    r.advance(Duration::ZERO).unwrap();
    assert_eq!(success(&watch(&z)), 1);
    assert_eq!(failure(&seen).kind(), Some(ErrorCode::TimedOut));
}

#[test]
fn a_looping_call_with_interval_zero_runs_once_per_iteration() {
    let r = Reactor::new().unwrap();
    let calls = Rc::new(Cell::new(0u32));
    let c = calls.clone();
    let lc = r
        .looping_call(move || {
            c.set(c.get() + 1);
            Ok(())
        })
        .unwrap();
    let d = watch(&lc.start(Duration::ZERO, true).unwrap());
    for _ in 0..10 {
        r.iterate(Duration::ZERO).unwrap();
    }
    assert!(calls.get() >= 2 && calls.get() <= 12, "{}", calls.get());
    lc.stop().unwrap();
    assert_eq!(kind(lc.stop()), Some(ErrorCode::Invalid));
    success(&d);
}

#[test]
fn bad_sizes_are_errors() {
    assert_eq!(kind(Semaphore::new(0)), Some(ErrorCode::Invalid));
    let s = Semaphore::new(u32::MAX).unwrap();
    assert_eq!(kind(s.release()), Some(ErrorCode::Invalid));
    let l = Lock::new();
    assert_eq!(kind(l.release()), Some(ErrorCode::Invalid));
    assert_eq!(kind(ThreadPool::new(2, 1, None)), Some(ErrorCode::Invalid));
    drop(ThreadPool::new(u32::MAX, u32::MAX, Some("a name longer than fifteen bytes")).unwrap());
    let bad = ReactorOptions {
        threadpool_min: 5,
        threadpool_max: 1,
        ..Default::default()
    };
    assert!(Reactor::with_options(&bad).is_err());
    let r = Reactor::new().unwrap();
    assert_eq!(kind(r.suggest_threadpool_size(0)), Some(ErrorCode::Invalid));
    r.suggest_threadpool_size(u32::MAX).unwrap();
    let d: Deferred<i64> = r.defer_to_thread(|| 9).unwrap();
    let seen = watch(&d);
    pump(&r, || seen.borrow().is_some());
    assert_eq!(success(&seen), 9);
    // A queue that keeps nothing and lets nobody wait.
    let c = counter();
    let q: Queue<Counted> = Queue::new(Some(0), Some(0));
    assert_eq!(
        kind(q.put(Counted(c.clone(), 1))),
        Some(ErrorCode::Overflow)
    );
    assert_eq!(n(&c), 1, "a refused value is dropped");
    assert_eq!(failure(&watch(&q.get())).kind(), Some(ErrorCode::Underflow));
}

#[test]
fn empty_lists_fire_at_once() {
    assert!(success(&watch(&deferred_list::<i64>(vec![]))).is_empty());
    assert!(success(&watch(&gather::<i64>(vec![]))).is_empty());
    let all = ListFlags {
        fire_on_one_callback: true,
        fire_on_one_errback: true,
        consume_errors: true,
    };
    match success(&watch(&deferred_list_with::<i64>(vec![], all))) {
        ListResult::All(v) => assert!(v.is_empty()),
        ListResult::First { .. } => panic!("no input to fire with"),
    }
}

#[test]
fn wrong_types_are_failures() {
    use deferred::value::{from_value, into_value};
    let c = counter();
    // SAFETY (each): the values come straight from into_value.
    let e = unsafe { from_value::<String>(into_value(vec![0xffu8, 0xfe])) }.unwrap_err();
    assert_eq!(e.code(), RUST_WRONG_TYPE);
    let e = unsafe { from_value::<i64>(into_value("x".to_string())) }.unwrap_err();
    assert_eq!(e.code(), RUST_WRONG_TYPE);
    let e = unsafe { from_value::<Counted>(into_value(5i64)) }.unwrap_err();
    assert_eq!(e.code(), RUST_WRONG_TYPE);
    let e = unsafe { from_value::<Rc<i64>>(into_value(Counted(c.clone(), 1))) }.unwrap_err();
    assert_eq!(e.code(), RUST_WRONG_TYPE);
    assert_eq!(n(&c), 1, "the mismatched value is dropped once");
    // Lists: out of range, twice, the wrong type.
    let l = deferred_list_with(
        vec![Deferred::succeed(1i64), Deferred::fail(Failure::msg("x"))],
        ListFlags {
            consume_errors: true,
            ..Default::default()
        },
    );
    match success(&watch(&l)) {
        ListResult::All(v) => {
            assert_eq!(v.len(), 2);
            assert!(v[1].is_err());
        }
        ListResult::First { .. } => unreachable!(),
    }
}

// ---- huge counts ---------------------------------------------------------

#[test]
fn long_chains_and_deep_nesting_do_not_overflow_the_stack() {
    // 100 000 callbacks on one deferred.
    let d: Deferred<i64> = Deferred::new();
    let mut t = d.clone();
    for _ in 0..100_000 {
        t = t.add_callback(|x| Ok(x + 1));
    }
    let seen = watch(&t);
    d.callback(0).unwrap();
    assert_eq!(success(&seen), 100_000);
    // 20 000 deferreds each waiting on the next, fired from the far end.
    let last: Deferred<i64> = Deferred::new();
    let mut head: Deferred<i64> = Deferred::succeed(0);
    let mut inners = Vec::new();
    for _ in 0..20_000 {
        let inner: Deferred<i64> = Deferred::new();
        inners.push(inner.clone());
        head = head.add_callback_deferred(move |_| inner);
    }
    let seen = watch(&head);
    for (i, d) in inners.iter().enumerate().rev() {
        if i == 0 {
            break;
        }
        let _ = d;
    }
    // Fire in order: each fire lets the head move one step.
    for (i, d) in inners.iter().enumerate() {
        d.callback(i as i64).unwrap();
    }
    drop(last);
    assert_eq!(success(&seen), 19_999);
    // A list of 20 000 inputs, and 20 000 deferreds chained in a row.
    let ins: Vec<Deferred<i64>> = (0..20_000).map(|_| Deferred::new()).collect();
    let l = watch(&gather(ins.clone()));
    for (i, d) in ins.iter().enumerate() {
        d.callback(i as i64).unwrap();
    }
    assert_eq!(success(&l).len(), 20_000);
    let first: Deferred<i64> = Deferred::new();
    let mut prev = first.clone();
    let mut keep = Vec::new();
    for _ in 0..20_000 {
        let next: Deferred<i64> = Deferred::new();
        keep.push(prev.chain(&next).unwrap());
        prev = next;
    }
    let end = watch(&prev);
    first.callback(42).unwrap();
    assert_eq!(success(&end), 42);
}
