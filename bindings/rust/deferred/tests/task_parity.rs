//! The behaviour Twisted's twisted/test/test_task.py (Twisted 22.4) checks,
//! written again for the Rust binding on the manual clock: Clock and
//! delayed calls, LoopingCall (with `withCount`) and deferLater.  Each test
//! names the Twisted test(s) whose behaviour it covers.
mod common;
use common::{failure, success, watch};
use deferred::Deferred;
use deferred::{DelayedCall, ErrorCode, Failure, LoopingCall, Reactor, ReactorRef, State};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;

type Log<T> = Rc<RefCell<Vec<T>>>;

fn log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Twisted's Clock.pump: advance by each step in turn.
fn pump(r: &ReactorRef, steps: &[f64]) {
    for s in steps {
        r.advance(secs(*s)).unwrap();
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// A call that logs its name and the time it ran.
fn log_time(
    r: &ReactorRef,
    out: &Log<(&'static str, f64)>,
    name: &'static str,
    at: f64,
) -> DelayedCall {
    let (o, rr) = (out.clone(), r.clone());
    r.call_later(secs(at), move || o.borrow_mut().push((name, rr.seconds())))
        .unwrap()
}

// ---- ClockTests -------------------------------------------------------------

/// testSeconds, testCallLater, testCallLaterCancelled, test_callLaterOrdering,
/// test_getDelayedCalls(Empty).
#[test]
fn the_manual_clock_and_its_delayed_calls() {
    let r = Reactor::manual_clock().unwrap();
    assert_eq!(r.seconds(), 0.0);
    assert_eq!(r.pending_calls(), 0);
    let call = r.call_later(secs(1.0), || {}).unwrap();
    assert_eq!(call.time(), Some(1.0));
    assert!(call.active());
    let call2 = r.call_later(secs(2.0), || {}).unwrap();
    assert_eq!(r.pending_calls(), 2);
    assert_eq!(call2.time(), Some(2.0));
    call.cancel().unwrap();
    assert!(!call.active());
    assert_eq!(call.time(), None);
    assert_eq!(r.pending_calls(), 1);
    assert_eq!(
        call.cancel().unwrap_err().kind(),
        Some(ErrorCode::AlreadyCancelled)
    );
}

/// testAdvance, testAdvanceCancel: a call runs when its time comes, is no
/// longer active, and cancelling it from inside itself is AlreadyRan
/// (Twisted's AlreadyCalled).
#[test]
fn advancing_runs_due_calls() {
    let r = Reactor::manual_clock().unwrap();
    let events = Rc::new(Cell::new(0));
    let e = events.clone();
    let call = r.call_later(secs(2.0), move || e.set(e.get() + 1)).unwrap();
    r.advance(secs(1.0)).unwrap();
    assert_eq!(events.get(), 0);
    r.advance(secs(1.0)).unwrap();
    assert_eq!(events.get(), 1);
    assert!(!call.active());

    let slot: Rc<RefCell<Option<DelayedCall>>> = Rc::default();
    let inside = Rc::new(RefCell::new(None));
    let (s, i) = (slot.clone(), inside.clone());
    let call = r
        .call_later(secs(1.0), move || {
            let c = s.borrow();
            *i.borrow_mut() = Some(c.as_ref().unwrap().cancel().unwrap_err().kind());
        })
        .unwrap();
    *slot.borrow_mut() = Some(call);
    r.advance(secs(1.0)).unwrap();
    assert_eq!(*inside.borrow(), Some(Some(ErrorCode::AlreadyRan)));
}

/// testCallLaterDelayed, testCallLaterResetLater, testCallLaterResetSooner.
#[test]
fn delay_and_reset_move_a_call() {
    let r = Reactor::manual_clock().unwrap();
    let events = Rc::new(Cell::new(0));
    let e = events.clone();
    let call = r.call_later(secs(1.0), move || e.set(e.get() + 1)).unwrap();
    call.delay(secs(1.0)).unwrap();
    assert_eq!(call.time(), Some(2.0));
    r.advance(secs(1.5)).unwrap();
    assert_eq!(events.get(), 0);
    r.advance(secs(1.0)).unwrap();
    assert_eq!(events.get(), 1);

    let r = Reactor::manual_clock().unwrap();
    let e = events.clone();
    events.set(0);
    let call = r.call_later(secs(2.0), move || e.set(e.get() + 1)).unwrap();
    r.advance(secs(1.0)).unwrap();
    call.reset(secs(3.0)).unwrap();
    assert_eq!(call.time(), Some(4.0));
    r.advance(secs(2.0)).unwrap();
    assert_eq!(events.get(), 0);
    r.advance(secs(1.0)).unwrap();
    assert_eq!(events.get(), 1);

    let r = Reactor::manual_clock().unwrap();
    let e = events.clone();
    events.set(0);
    let call = r.call_later(secs(4.0), move || e.set(e.get() + 1)).unwrap();
    call.reset(secs(3.0)).unwrap();
    assert_eq!(call.time(), Some(3.0));
    r.advance(secs(3.0)).unwrap();
    assert_eq!(events.get(), 1);
    // A call that ran cannot be moved.
    assert_eq!(
        call.reset(secs(1.0)).unwrap_err().kind(),
        Some(ErrorCode::AlreadyRan)
    );
    assert_eq!(
        call.delay(secs(1.0)).unwrap_err().kind(),
        Some(ErrorCode::AlreadyRan)
    );
}

/// test_callLaterKeepsCallsOrdered, test_callLaterResetKeepsCallsOrdered.
#[test]
fn reset_calls_keep_time_order() {
    for reset_first in [true, false] {
        let r = Reactor::manual_clock().unwrap();
        let out = log();
        let a = log_time(&r, &out, "a", 1.0);
        if reset_first {
            a.reset(secs(3.0)).unwrap();
        }
        let _b = log_time(&r, &out, "b", 2.0);
        if !reset_first {
            a.reset(secs(3.0)).unwrap();
        }
        pump(&r, &[1.0; 3]);
        assert_eq!(*out.borrow(), [("b", 2.0), ("a", 3.0)]);
    }
}

/// test_callLaterResetInsideCallKeepsCallsOrdered.
#[test]
fn a_reset_from_inside_a_call_keeps_time_order() {
    let r = Reactor::manual_clock().unwrap();
    let out = log();
    let b = Rc::new(log_time(&r, &out, "b", 2.0));
    let b2 = b.clone();
    let _a = r
        .call_later(secs(1.0), move || b2.reset(secs(3.0)).unwrap())
        .unwrap();
    let _c = log_time(&r, &out, "c", 3.0);
    pump(&r, &[0.5; 10]);
    assert_eq!(*out.borrow(), [("c", 3.0), ("b", 4.0)]);
}

// ---- LoopTests ----------------------------------------------------------------

/// A LoopingCall whose function can reach it (to stop it from inside).
fn looping<F, R>(r: &ReactorRef, f: F) -> Rc<LoopingCall>
where
    F: FnMut(&Weak<LoopingCall>) -> R + 'static,
    R: deferred::Tick,
{
    let me: Rc<RefCell<Weak<LoopingCall>>> = Rc::default();
    let m = me.clone();
    let mut f = f;
    let lc = Rc::new(r.looping_call(move || f(&m.borrow())).unwrap());
    *me.borrow_mut() = Rc::downgrade(&lc);
    lc
}

/// test_reactorTimeSkips: calls missed while the clock jumped are skipped,
/// the next goes to the next interval in the future.
#[test]
fn missed_intervals_are_skipped() {
    let r = Reactor::manual_clock().unwrap();
    let times = log();
    let (t, rr) = (times.clone(), r.handle_local());
    let lc = r
        .looping_call(move || {
            t.borrow_mut().push(rr.seconds());
            Ok(())
        })
        .unwrap();
    lc.start(secs(0.5), true).unwrap();
    assert_eq!(*times.borrow(), [0.0]);
    r.advance(secs(2.0)).unwrap();
    assert_eq!(*times.borrow(), [0.0, 2.0]);
    r.advance(secs(1.0)).unwrap();
    assert_eq!(*times.borrow(), [0.0, 2.0, 3.0]);
    r.advance(secs(0.0)).unwrap();
    assert_eq!(*times.borrow(), [0.0, 2.0, 3.0]);
}

/// test_callbackTimeSkips: time that passes inside the function itself
/// (here, the function advances the clock) is skipped the same way.
#[test]
fn time_spent_in_the_function_is_skipped() {
    let r = Reactor::manual_clock().unwrap();
    let times = log();
    let duration = Rc::new(Cell::new(2.0));
    let (t, rr, dur) = (times.clone(), r.handle_local(), duration.clone());
    let lc = r
        .looping_call(move || {
            t.borrow_mut().push(rr.seconds());
            rr.advance(secs(dur.get()))
        })
        .unwrap();
    lc.start(secs(0.5), true).unwrap();
    assert_eq!(*times.borrow(), [0.0]);
    assert_eq!(r.seconds(), 2.0);
    r.advance(secs(0.0)).unwrap();
    assert_eq!(*times.borrow(), [0.0]);
    duration.set(1.0);
    r.advance(secs(0.5)).unwrap();
    assert_eq!(*times.borrow(), [0.0, 2.5]);
    assert_eq!(r.seconds(), 3.5);
    r.advance(secs(0.0)).unwrap();
    assert_eq!(*times.borrow(), [0.0, 2.5]);
    duration.set(0.0);
    r.advance(secs(0.5)).unwrap();
    assert_eq!(*times.borrow(), [0.0, 2.5, 4.0]);
    assert_eq!(r.seconds(), 4.0);
}

fn counting(r: &Reactor) -> (LoopingCall, Log<(f64, u64)>) {
    let times = log();
    let (t, rr) = (times.clone(), r.handle_local());
    let lc = r
        .looping_call_with_count(move |n| {
            t.borrow_mut().push((rr.seconds(), n));
            Ok(())
        })
        .unwrap();
    (lc, times)
}

/// test_reactorTimeCountSkips.
#[test]
fn with_count_counts_the_skipped_calls() {
    let r = Reactor::manual_clock().unwrap();
    let (lc, times) = counting(&r);
    const I: f64 = 0.5;
    const D: f64 = 0.01;
    lc.start(secs(I), true).unwrap();
    assert_eq!(*times.borrow(), [(0.0, 1)]);
    r.advance(secs(I + D)).unwrap();
    r.advance(secs(3.0 * I + D)).unwrap();
    r.advance(secs(0.0)).unwrap();
    let t = times.borrow();
    assert_eq!(t.len(), 3);
    assert!(close(t[1].0, I + D) && t[1].1 == 1);
    assert!(close(t[2].0, 4.0 * I + 2.0 * D) && t[2].1 == 3, "{t:?}");
}

/// test_countLengthyIntervalCounts: late by less than an interval counts 1.
#[test]
fn with_count_counts_only_whole_intervals() {
    let r = Reactor::manual_clock().unwrap();
    let (lc, times) = counting(&r);
    const I: f64 = 0.5;
    const D: f64 = 0.01;
    lc.start(secs(I), true).unwrap();
    for step in [I + D, I * 1.75, I * 0.25] {
        r.advance(secs(step)).unwrap();
    }
    let t = times.borrow();
    let counts: Vec<u64> = t.iter().map(|x| x.1).collect();
    assert_eq!(counts, [1, 1, 1, 1]);
    assert!(close(t[2].0, 2.75 * I + D));
    assert!(close(t[3].0, 3.0 * I + D));
}

/// test_withCountFloatingPointBoundary: an interval that is not exact in
/// binary never gives a count of 0, and the counts add up to the intervals
/// that passed.
#[test]
fn with_count_never_gives_zero_at_a_floating_point_boundary() {
    let r = Reactor::manual_clock().unwrap();
    let (lc, times) = counting(&r);
    let interval = secs(0.1);
    lc.start(interval, false).unwrap();
    for _ in 0..10 {
        r.advance(interval).unwrap();
    }
    // The ten steps add up to a little less than 1 s: step past it.
    r.advance(Duration::from_nanos(1)).unwrap();
    assert!(r.seconds() >= 1.0);
    let counts: Vec<u64> = times.borrow().iter().map(|x| x.1).collect();
    assert!(!counts.contains(&0), "{counts:?}");
    assert_eq!(counts.iter().sum::<u64>(), 10, "{counts:?}");
}

/// test_withCountIntervalZero, test_withCountIntervalZeroDelay: with interval
/// 0 the count is always 1, even after a returned deferred kept it waiting.
/// Each `advance(0)` makes one call (the one-pass rule) where Twisted's one
/// `advance(0)` makes them all.
#[test]
fn with_count_interval_zero_counts_one() {
    let r = Reactor::manual_clock().unwrap();
    let acc = log();
    let a = acc.clone();
    let me: Rc<RefCell<Weak<LoopingCall>>> = Rc::default();
    let m = me.clone();
    let lc = Rc::new(
        r.looping_call_with_count(move |n| {
            a.borrow_mut().push(n);
            if a.borrow().len() > 4 {
                m.borrow().upgrade().unwrap().stop()?;
            }
            Ok(())
        })
        .unwrap(),
    );
    *me.borrow_mut() = Rc::downgrade(&lc);
    let done = watch(&lc.start(Duration::ZERO, false).unwrap());
    r.advance(Duration::ZERO).unwrap();
    for _ in 0..10 {
        if done.borrow().is_some() {
            break;
        }
        r.advance(Duration::ZERO).unwrap();
    }
    success(&done);
    assert_eq!(*acc.borrow(), [1, 1, 1, 1, 1]);

    let r = Reactor::manual_clock().unwrap();
    let gate: Deferred<()> = Deferred::new();
    let acc = log();
    let (a, g) = (acc.clone(), gate.clone());
    let me: Rc<RefCell<Weak<LoopingCall>>> = Rc::default();
    let m = me.clone();
    let lc = Rc::new(
        r.looping_call_with_count(move |n| -> Result<Deferred<()>, Failure> {
            a.borrow_mut().push(n);
            let len = a.borrow().len();
            if len > 4 {
                m.borrow().upgrade().unwrap().stop()?;
            }
            Ok(if len == 2 {
                g.clone()
            } else {
                Deferred::succeed(())
            })
        })
        .unwrap(),
    );
    *me.borrow_mut() = Rc::downgrade(&lc);
    let done = watch(&lc.start(Duration::ZERO, false).unwrap());
    r.advance(Duration::ZERO).unwrap();
    r.advance(Duration::ZERO).unwrap();
    assert_eq!(*acc.borrow(), [1, 1]);
    r.advance(secs(2.0)).unwrap();
    assert_eq!(*acc.borrow(), [1, 1]);
    gate.callback(()).unwrap();
    for _ in 0..10 {
        if done.borrow().is_some() {
            break;
        }
        r.advance(Duration::ZERO).unwrap();
    }
    assert_eq!(*acc.borrow(), [1, 1, 1, 1, 1]);
    success(&done);
}

/// testBasicFunction, testDelayedStart: calls at start (or not) and every
/// interval; stopping fires the start deferred and leaves no call pending.
#[test]
fn looping_call_runs_every_interval_and_stops() {
    for now in [true, false] {
        let r = Reactor::manual_clock().unwrap();
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        let lc = r
            .looping_call(move || {
                c.set(c.get() + 1);
                Ok(())
            })
            .unwrap();
        let done = watch(&lc.start(secs(0.1), now).unwrap());
        pump(&r, &[0.05, 0.1, 0.1]);
        assert_eq!(calls.get(), if now { 3 } else { 2 });
        assert!(done.borrow().is_none());
        lc.stop().unwrap();
        success(&done);
        assert_eq!(r.pending_calls(), 0);
        assert!(!lc.running());
    }
}

/// testStopAtOnce, testStoppingBeforeDelayedStart: stopped before its first
/// call, it never runs.
#[test]
fn a_looping_call_stopped_before_its_first_call_never_runs() {
    for interval in [0.0, 10.0] {
        let r = Reactor::manual_clock().unwrap();
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        let lc = r
            .looping_call(move || {
                c.set(c.get() + 1);
                Ok(())
            })
            .unwrap();
        let done = watch(&lc.start(secs(interval), false).unwrap());
        lc.stop().unwrap();
        success(&done);
        r.advance(secs(20.0)).unwrap();
        assert_eq!(calls.get(), 0);
        assert_eq!(r.pending_calls(), 0);
    }
}

/// test_reset.
#[test]
fn reset_restarts_the_interval() {
    let r = Reactor::manual_clock().unwrap();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let lc = r
        .looping_call(move || {
            c.set(c.get() + 1);
            Ok(())
        })
        .unwrap();
    lc.start(secs(2.0), false).unwrap();
    r.advance(secs(1.0)).unwrap();
    lc.reset().unwrap();
    r.advance(secs(1.0)).unwrap();
    assert_eq!(calls.get(), 0);
    r.advance(secs(1.0)).unwrap();
    assert_eq!(calls.get(), 1);
}

/// Starting a running LoopingCall, or stopping a stopped one: Twisted
/// asserts.  Here stop is `Invalid`, and start gives a deferred that already
/// failed with `AlreadyRunning` (the library refuses with a failed
/// deferred, as every binding reports it); the running loop goes on.
#[test]
fn start_twice_and_stop_twice_are_errors() {
    let r = Reactor::manual_clock().unwrap();
    let lc = r.looping_call(|| Ok(())).unwrap();
    assert_eq!(lc.stop().unwrap_err().kind(), Some(ErrorCode::Invalid));
    let first = watch(&lc.start(secs(1.0), true).unwrap());
    let again = watch(&lc.start(secs(1.0), true).unwrap());
    assert_eq!(failure(&again).kind(), Some(ErrorCode::AlreadyRunning));
    assert!(lc.running() && first.borrow().is_none());
    lc.stop().unwrap();
    success(&first);
    assert_eq!(lc.stop().unwrap_err().kind(), Some(ErrorCode::Invalid));
    // A stopped LoopingCall can start again.
    lc.start(secs(1.0), true).unwrap();
    assert!(lc.running());
}

// ---- ReactorLoopTests -----------------------------------------------------------

/// testFailure, testFailAndStop: a failing call stops the loop and fails its
/// start deferred (also when the function stopped it first).
#[test]
fn a_failing_call_fails_the_start_deferred() {
    let r = Reactor::manual_clock().unwrap();
    let lc = r
        .looping_call(|| -> Result<(), Failure> { Err(Failure::msg("bar")) })
        .unwrap();
    let done = watch(&lc.start(secs(0.1), true).unwrap());
    assert_eq!(failure(&done).message(), "bar");
    assert!(!lc.running());

    let lc = looping(&r, |me| -> Result<(), Failure> {
        me.upgrade().unwrap().stop()?;
        Err(Failure::msg("bar"))
    });
    let done = watch(&lc.start(secs(0.1), true).unwrap());
    assert_eq!(failure(&done).message(), "bar");
    assert_eq!(r.pending_calls(), 0);
}

/// testEveryIteration: interval 0 calls on every iteration until stopped.
#[test]
fn interval_zero_runs_every_iteration() {
    let r = Reactor::manual_clock().unwrap();
    let ran = Rc::new(Cell::new(0));
    let k = ran.clone();
    let lc = looping(&r, move |me| {
        k.set(k.get() + 1);
        if k.get() > 5 {
            me.upgrade().unwrap().stop()?;
        }
        Ok(())
    });
    let done = watch(&lc.start(Duration::ZERO, true).unwrap());
    for _ in 0..20 {
        if done.borrow().is_some() {
            break;
        }
        r.advance(Duration::ZERO).unwrap();
    }
    success(&done);
    assert_eq!(ran.get(), 6);
}

/// testStopAtOnceLater: stopped from another call before its first call.
#[test]
fn stopped_from_a_call_before_its_first_call() {
    let r = Reactor::manual_clock().unwrap();
    let ran = Rc::new(Cell::new(0));
    let k = ran.clone();
    let lc = Rc::new(
        r.looping_call(move || {
            k.set(k.get() + 1);
            Ok(())
        })
        .unwrap(),
    );
    let done = watch(&lc.start(secs(1.0), false).unwrap());
    let l = lc.clone();
    let _c = r
        .call_later(Duration::ZERO, move || l.stop().unwrap())
        .unwrap();
    r.advance(Duration::ZERO).unwrap();
    success(&done);
    r.advance(secs(2.0)).unwrap();
    assert_eq!(ran.get(), 0);
}

/// testWaitDeferred: a returned deferred keeps the next call waiting; the
/// function stopping the loop from that deferred leaves nothing pending.
#[test]
fn a_returned_deferred_is_waited_for() {
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    let calls = Rc::new(Cell::new(0));
    let k = calls.clone();
    let lc = looping(&r, move |me| -> Result<Deferred<()>, Failure> {
        k.set(k.get() + 1);
        let d: Deferred<()> = Deferred::new();
        let me = me.clone();
        let chain = d.clone().add_callback(move |()| {
            me.upgrade().unwrap().stop()?;
            Ok(())
        });
        let fire = d.clone();
        rr.call_later(secs(1.0), move || fire.callback(()).unwrap())?;
        Ok(chain)
    });
    let done = watch(&lc.start(secs(0.2), true).unwrap());
    pump(&r, &[0.2, 0.8]);
    assert_eq!(calls.get(), 1);
    success(&done);
    assert_eq!(r.pending_calls(), 0);
}

/// testFailurePropagation: a returned deferred's failure fails the start
/// deferred.
#[test]
fn a_returned_deferreds_failure_fails_the_loop() {
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    let lc = r
        .looping_call(move || -> Result<Deferred<()>, Failure> {
            let d: Deferred<()> = Deferred::new();
            let fire = d.clone();
            rr.call_later(secs(0.3), move || {
                fire.errback(Failure::msg("test exception")).unwrap()
            })?;
            Ok(d)
        })
        .unwrap();
    let done = watch(&lc.start(secs(1.0), true).unwrap());
    pump(&r, &[0.3]);
    assert_eq!(failure(&done).message(), "test exception");
    assert_eq!(r.pending_calls(), 0);
}

/// test_deferredWithCount: calls due while a returned deferred is pending
/// are not made, and the next count includes them.
#[test]
fn with_count_and_a_pending_deferred() {
    let r = Reactor::manual_clock().unwrap();
    let gate: Deferred<()> = Deferred::new();
    let counts = log();
    let (c, g) = (counts.clone(), gate.clone());
    let lc = r
        .looping_call_with_count(move |n| -> Deferred<()> {
            c.borrow_mut().push(n);
            if c.borrow().len() == 1 {
                g.clone()
            } else {
                Deferred::succeed(())
            }
        })
        .unwrap();
    lc.start(secs(0.2), false).unwrap();
    assert!(counts.borrow().is_empty());
    pump(&r, &[0.2, 0.4]);
    assert_eq!(counts.borrow().len(), 1);
    gate.callback(()).unwrap();
    pump(&r, &[0.2]);
    assert_eq!(*counts.borrow(), [1, 3]);
}

// ---- DeferLaterTests ------------------------------------------------------------

/// test_callback, test_errback, test_noCallback.
#[test]
fn defer_later_fires_with_the_functions_result() {
    let r = Reactor::manual_clock().unwrap();
    let ran = Rc::new(Cell::new(false));
    let k = ran.clone();
    let d = r
        .defer_later(secs(3.0), move || {
            k.set(true);
            Ok(String::from("flag"))
        })
        .unwrap();
    let seen = watch(&d);
    r.advance(secs(2.0)).unwrap();
    assert!(!ran.get() && seen.borrow().is_none());
    r.advance(secs(1.0)).unwrap();
    assert_eq!(success(&seen), "flag");

    let d = r
        .defer_later(secs(1.0), || -> Result<(), Failure> {
            Err(Failure::msg("test"))
        })
        .unwrap();
    let seen = watch(&d);
    r.advance(secs(1.0)).unwrap();
    assert_eq!(failure(&seen).message(), "test");

    let d = r.defer_later(secs(2.0), || Ok(())).unwrap();
    let seen = watch(&d);
    r.advance(secs(1.0)).unwrap();
    assert_eq!(d.state(), State::Pending);
    r.advance(secs(1.0)).unwrap();
    success(&seen);
}

/// test_cancel: cancelling removes the timer; the function never runs.
#[test]
fn cancelling_defer_later_removes_its_call() {
    let r = Reactor::manual_clock().unwrap();
    let ran = Rc::new(Cell::new(false));
    let k = ran.clone();
    let d = r
        .defer_later(secs(1.0), move || {
            k.set(true);
            Ok(())
        })
        .unwrap();
    let seen = watch(&d);
    d.cancel();
    assert!(failure(&seen).is_cancelled());
    assert_eq!(r.pending_calls(), 0);
    r.advance(secs(2.0)).unwrap();
    assert!(!ran.get());
}

/// A function that stops its loop in its first call: the start deferred has
/// fired when start returns, and nothing is left scheduled.
#[test]
fn stopped_in_its_first_call() {
    let r = Reactor::manual_clock().unwrap();
    let lc = looping(&r, |me| me.upgrade().unwrap().stop());
    let done = watch(&lc.start(secs(1.0), true).unwrap());
    success(&done);
    assert!(!lc.running());
    assert_eq!(r.pending_calls(), 0);
}

/// Stopped while the deferred its function returned is pending: as in
/// Twisted, the start deferred waits for it.  Twisted then lets start be
/// called again at once (leaving two loops scheduled); here that start is
/// refused with `AlreadyRunning` until the pending deferred fires.
#[test]
fn stopped_while_its_deferred_is_pending() {
    let r = Reactor::manual_clock().unwrap();
    let gate: Deferred<()> = Deferred::new();
    let calls = Rc::new(Cell::new(0));
    let (g, k) = (gate.clone(), calls.clone());
    let lc = r
        .looping_call(move || {
            k.set(k.get() + 1);
            if k.get() == 1 {
                g.clone()
            } else {
                Deferred::succeed(())
            }
        })
        .unwrap();
    let done = watch(&lc.start(secs(1.0), true).unwrap());
    lc.stop().unwrap();
    assert!(!lc.running());
    assert!(done.borrow().is_none());
    let again = watch(&lc.start(secs(1.0), true).unwrap());
    assert_eq!(failure(&again).kind(), Some(ErrorCode::AlreadyRunning));
    gate.callback(()).unwrap();
    success(&done);
    assert_eq!(r.pending_calls(), 0);
    r.advance(secs(5.0)).unwrap();
    assert_eq!(calls.get(), 1);
    // Now it can start again.
    let _again = lc.start(secs(1.0), true).unwrap();
    assert_eq!(calls.get(), 2);
}

/// A cancelled delayed call cannot be reset or delayed (AlreadyCancelled,
/// as in Twisted).
#[test]
fn a_cancelled_call_cannot_move() {
    let r = Reactor::manual_clock().unwrap();
    let dc = r.call_later(secs(1.0), || {}).unwrap();
    dc.cancel().unwrap();
    for e in [dc.reset(secs(2.0)), dc.delay(secs(2.0))] {
        assert_eq!(e.unwrap_err().kind(), Some(ErrorCode::AlreadyCancelled));
    }
}

/// deferLater of a function returning a deferred: Twisted chains it; here
/// the same is `defer_later(.., || Ok(())).add_callback_deferred(f)`, and
/// cancelling while it waits cancels the inner deferred.
#[test]
fn defer_later_then_a_deferred() {
    let r = Reactor::manual_clock().unwrap();
    let inner: Deferred<i64> = Deferred::new();
    let i = inner.clone();
    let d = r
        .defer_later(secs(1.0), || Ok(()))
        .unwrap()
        .add_callback_deferred(move |()| i);
    let seen = watch(&d);
    r.advance(secs(1.0)).unwrap();
    assert!(seen.borrow().is_none());
    inner.callback(7).unwrap();
    assert_eq!(success(&seen), 7);

    let inner: Deferred<i64> = Deferred::new();
    let inner_seen = watch(&inner);
    let i = inner.clone();
    let d = r
        .defer_later(secs(1.0), || Ok(()))
        .unwrap()
        .add_callback_deferred(move |()| i);
    r.advance(secs(1.0)).unwrap();
    d.cancel();
    assert!(failure(&inner_seen).is_cancelled());
}

/// Calls due in an advance run in time order and, for equal times, in the
/// order they were made.  A call made by one of them, even at zero delay,
/// waits for the next pass (`advance(0)`): the library's one-pass rule
/// (docs/reactor.md), where Twisted's Clock runs it in the same advance.
#[test]
fn calls_made_during_an_advance_wait_for_the_next_pass() {
    let r = Reactor::manual_clock().unwrap();
    let out = log();
    let _a = log_time(&r, &out, "a", 1.0);
    let _b = log_time(&r, &out, "b", 1.0);
    let (o, rr) = (out.clone(), r.handle_local());
    let _c = r
        .call_later(secs(0.5), move || {
            let (o2, rr2) = (o.clone(), rr.clone());
            let _ = rr.call_later(Duration::ZERO, move || {
                o2.borrow_mut().push(("now", rr2.seconds()))
            });
        })
        .unwrap();
    r.advance(secs(2.0)).unwrap();
    assert_eq!(*out.borrow(), [("a", 2.0), ("b", 2.0)]);
    r.advance(Duration::ZERO).unwrap();
    assert_eq!(*out.borrow(), [("a", 2.0), ("b", 2.0), ("now", 2.0)]);
}

/// withCount across `reset` and a stop-and-start, as Twisted 22.4 counts
/// them (found by running Twisted): a call less than an interval after the
/// last one is skipped, never given 0.
#[test]
fn with_count_across_reset_and_restart() {
    fn run(steps: &[f64], restart: bool) -> Vec<(f64, u64)> {
        let r = Reactor::manual_clock().unwrap();
        let (lc, times) = counting(&r);
        lc.start(secs(1.0), true).unwrap();
        for (i, s) in steps.iter().enumerate() {
            r.advance(secs(*s)).unwrap();
            if i == 0 {
                if restart {
                    lc.stop().unwrap();
                    lc.start(secs(1.0), true).unwrap();
                } else {
                    lc.reset().unwrap();
                }
            }
        }
        let t = times.borrow().clone();
        t.into_iter()
            .map(|(at, n)| ((at * 1e6).round() / 1e6, n))
            .collect()
    }
    assert_eq!(
        run(&[0.5, 1.0, 1.0, 1.0], false),
        [(0.0, 1), (1.5, 1), (2.5, 1), (3.5, 1)]
    );
    assert_eq!(
        run(&[1.7, 0.5, 0.5, 1.0, 1.0], false),
        [(0.0, 1), (1.7, 1), (2.7, 1), (3.7, 1), (4.7, 1)]
    );
    assert_eq!(run(&[0.5, 1.0, 1.0], true), [(0.0, 1), (1.5, 1), (2.5, 1)]);
    assert_eq!(
        run(&[2.2, 0.5, 1.0, 1.0], true),
        [(0.0, 1), (2.2, 2), (3.7, 1), (4.7, 1)]
    );
}

/// A delayed call that panics (Python: raises) is reported on stderr and
/// the advance goes on with the other due calls; on Twisted's Clock the
/// exception leaves `advance` and the calls after it wait.
#[test]
fn a_panicking_call_does_not_stop_the_advance() {
    let r = Reactor::manual_clock().unwrap();
    let ran = Rc::new(Cell::new(false));
    let k = ran.clone();
    let _a = r.call_later(secs(1.0), || panic!("raised")).unwrap();
    let _b = r.call_later(secs(1.0), move || k.set(true)).unwrap();
    r.advance(secs(1.0)).unwrap();
    assert!(ran.get());
}

/// Cancelling a LoopingCall's start deferred leaves the loop running;
/// cancelling the deferred its function returned stops it with Cancelled
/// (both as Twisted 22.4 does, run to check).
#[test]
fn cancelling_the_start_deferred_or_the_functions_deferred() {
    let r = Reactor::manual_clock().unwrap();
    let calls = Rc::new(Cell::new(0));
    let k = calls.clone();
    let lc = r
        .looping_call(move || {
            k.set(k.get() + 1);
            Ok(())
        })
        .unwrap();
    let d = lc.start(secs(1.0), true).unwrap();
    let seen = watch(&d);
    d.cancel();
    // As in Twisted: the deferred fails with Cancelled, the loop goes on,
    // and a later stop is fine (its fire is the one a cancel lets through).
    assert!(failure(&seen).is_cancelled());
    assert!(lc.running());
    r.advance(secs(1.0)).unwrap();
    assert_eq!(calls.get(), 2);
    lc.stop().unwrap();
    assert_eq!(r.pending_calls(), 0);

    let inner: Deferred<()> = Deferred::new();
    let i = inner.clone();
    let lc2 = r.looping_call(move || i.clone()).unwrap();
    let seen = watch(&lc2.start(secs(1.0), true).unwrap());
    inner.cancel();
    assert!(failure(&seen).is_cancelled());
    assert!(!lc2.running());
}
