//! The behaviour Twisted's own Deferred tests check (twisted/test/test_defer.py,
//! Twisted 22.4), written again for the Rust binding: chains, pausing,
//! deferreds returned from callbacks, already-called errors, cancellers,
//! DeferredList and gatherResults, Lock/Semaphore/Queue and addTimeout.
//! Each test names the Twisted test(s) whose behaviour it covers.
mod common;
use common::{failure, poll_now, pump, success, watch};
use deferred::{
    deferred_list_with, gather, maybe_deferred, Deferred, ErrorCode, Failure, ListFlags,
    ListResult, Lock, Queue, RawValue, Reactor, Semaphore, State,
};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

type Log<T> = Rc<RefCell<Vec<T>>>;

fn log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

/// Another handle to the same deferred, typed for what its chain produces
/// now (a deferred returned from a callback goes on with none, say).
fn view<T: 'static, U: 'static>(d: &Deferred<T>) -> Deferred<U> {
    // SAFETY: a new reference to a valid deferred on this thread; reading a
    // value of another type is a failure, never UB.
    unsafe { Deferred::from_raw(deferred::sys::dfr_deferred_ref(d.as_ptr())) }
}

fn kind<T>(r: Result<T, Failure>) -> Option<ErrorCode> {
    r.err().and_then(|f| f.kind())
}

// ---- Basic chains (DeferredTests) ----------------------------------------

/// testImmediateSuccess, testImmediateFailure, testTwoCallbacks.
#[test]
fn already_fired_deferreds_run_callbacks_at_once() {
    let got = log();
    let g = got.clone();
    let g2 = got.clone();
    let _ = Deferred::succeed(String::from("success"))
        .add_callback(move |s| {
            g.borrow_mut().push(s);
            Ok(())
        })
        .add_callback(move |()| {
            g2.borrow_mut().push("second".into());
            Ok(())
        });
    assert_eq!(*got.borrow(), ["success", "second"]);
    let seen = watch(&Deferred::<()>::fail(Failure::msg("fail")));
    assert_eq!(failure(&seen).message(), "fail");
}

/// testPausedFailure, testUnpauseBeforeCallback.
#[test]
fn a_paused_deferred_holds_its_result_until_unpaused() {
    let d: Deferred<()> = Deferred::fail(Failure::msg("fail"));
    d.pause().unwrap();
    let seen = watch(&d);
    assert!(seen.borrow().is_none());
    d.unpause().unwrap();
    assert_eq!(failure(&seen).message(), "fail");

    let d: Deferred<i64> = Deferred::new();
    d.pause().unwrap();
    let seen = watch(&d);
    d.unpause().unwrap();
    assert!(seen.borrow().is_none());
    d.callback(1).unwrap();
    assert_eq!(success(&seen), 1);
}

/// testCallbackErrors: a callback's error (an `Err`, or a panic: Python's
/// raise) goes to the next errback.
#[test]
fn callback_errors_take_the_errback_path() {
    let d: Deferred<i64> = Deferred::new();
    let seen = watch(
        &d.clone()
            .add_callback(|x: i64| -> Result<i64, Failure> { Ok(x / std::hint::black_box(0)) }),
    );
    d.callback(1).unwrap();
    assert!(failure(&seen).is_panic());

    let d: Deferred<i64> = Deferred::new();
    let seen = watch(
        &d.clone()
            .add_callback(|_| -> Result<i64, Failure> { Err(Failure::msg("division")) }),
    );
    d.callback(1).unwrap();
    assert_eq!(failure(&seen).message(), "division");
}

/// testReturnDeferred: a callback returning a paused deferred waits until it
/// has a result and is unpaused.
#[test]
fn a_returned_paused_deferred_is_waited_for() {
    let d1: Deferred<i64> = Deferred::new();
    let d2: Deferred<i64> = Deferred::new();
    d2.pause().unwrap();
    let inner = d2.clone();
    let seen = watch(&d1.clone().add_callback_deferred(move |_| inner));
    d1.callback(1).unwrap();
    assert!(seen.borrow().is_none());
    d2.callback(2).unwrap();
    assert!(seen.borrow().is_none());
    d2.unpause().unwrap();
    assert_eq!(success(&seen), 2);
}

/// test_chainedPausedDeferredWithResult.
#[test]
fn a_paused_deferred_with_a_result_returned_from_a_callback() {
    let paused: Deferred<i64> = Deferred::new();
    paused.callback(7).unwrap();
    paused.pause().unwrap();
    let chained: Deferred<()> = Deferred::new();
    let p = paused.clone();
    let chain = chained.clone().add_callback_deferred(move |()| p);
    chained.callback(()).unwrap();
    let seen = watch(&chain);
    assert!(seen.borrow().is_none());
    paused.unpause().unwrap();
    assert_eq!(success(&seen), 7);
}

/// test_pausedDeferredChained: pausing the outer deferred does not stop the
/// inner one's own callbacks.
#[test]
fn pausing_the_outer_deferred_does_not_block_the_inner() {
    let first: Deferred<()> = Deferred::new();
    let second: Deferred<()> = Deferred::new();
    let s = second.clone();
    let _f = first.clone().add_callback_deferred(move |()| s);
    first.callback(()).unwrap();
    first.pause().unwrap();
    second.callback(()).unwrap();
    // `second` went on with none (its result went to `first`).
    let seen = watch(&second);
    assert_eq!(success(&seen), ());
}

/// test_innerCallbacksPreserved and test_nestedAsynchronousChainedDeferreds:
/// the middle deferred's callbacks run after the innermost fires, before
/// the outer one goes on.
#[test]
fn inner_callbacks_run_before_the_outer_chain_goes_on() {
    let results: Log<String> = log();
    let inner: Deferred<String> = Deferred::new();
    let (r, i) = (results.clone(), inner.clone());
    let outer = Deferred::succeed(String::from("outer")).add_callback_deferred(move |s| {
        r.borrow_mut().push(format!("start-of-cb {s}"));
        let (r1, r2) = (r.clone(), r.clone());
        Deferred::succeed(String::from("inner"))
            .add_callback_deferred(move |s| {
                r1.borrow_mut().push(format!("firstCallback {s}"));
                i
            })
            .add_callback(move |s: String| {
                r2.borrow_mut().push(format!("secondCallback {s}"));
                Ok(s.repeat(2))
            })
    });
    let r = results.clone();
    let _o = outer.add_callback(move |s| {
        r.borrow_mut().push(s);
        Ok(())
    });
    assert_eq!(
        *results.borrow(),
        ["start-of-cb outer", "firstCallback inner"]
    );
    inner.callback("orange".into()).unwrap();
    assert_eq!(
        *results.borrow(),
        [
            "start-of-cb outer",
            "firstCallback inner",
            "secondCallback orange",
            "orangeorange"
        ]
    );
}

/// test_nestedAsynchronousChainedDeferredsWithExtraCallbacks: the inner
/// deferred's own callbacks (added before it was returned) run first.
#[test]
fn callbacks_on_the_returned_deferred_run_first() {
    let results: Log<String> = log();
    let inner: Deferred<String> = Deferred::new();
    let (r, i) = (results.clone(), inner.clone());
    let outer = Deferred::succeed(String::from("outer")).add_callback_deferred(move |_| {
        let (r1, r2) = (r.clone(), r.clone());
        Deferred::succeed(String::from("inner"))
            .add_callback_deferred(move |s| {
                r1.borrow_mut().push(format!("first {s}"));
                i.add_callback(|s: String| Ok(vec![s]))
            })
            .add_callback(move |v: Vec<String>| {
                r2.borrow_mut().push(format!("second {v:?}"));
                Ok([v.clone(), v].concat())
            })
    });
    let seen = watch(&outer);
    inner.callback("withers".into()).unwrap();
    assert_eq!(*results.borrow(), ["first inner", "second [\"withers\"]"]);
    assert_eq!(success(&seen), ["withers", "withers"]);
}

/// test_continueCallbackNotFirst and test_callbackOrderPreserved: a callback
/// added after one that returned a deferred runs after that deferred's
/// callbacks.
#[test]
fn callback_order_is_preserved_across_returned_deferreds() {
    let results: Log<String> = log();
    let a: Deferred<String> = Deferred::new();
    let outer: Deferred<String> = Deferred::new();
    let (r, a2) = (results.clone(), a.clone());
    let r3 = results.clone();
    let _o = outer
        .clone()
        .add_callback_deferred(move |s| {
            r.borrow_mut().push(format!("cb {s}"));
            let d: Deferred<()> = Deferred::new();
            let (r1, r2) = (r.clone(), r.clone());
            let chain = d
                .clone()
                .add_callback_deferred(move |()| {
                    r1.borrow_mut().push("firstCallback".into());
                    gather(vec![a2])
                })
                .add_callback(move |v: Vec<String>| {
                    r2.borrow_mut().push(format!("secondCallback {v:?}"));
                    Ok(())
                });
            d.callback(()).unwrap();
            chain
        })
        .add_callback(move |()| {
            r3.borrow_mut().push("final".into());
            Ok(())
        });
    outer.callback("outer".into()).unwrap();
    assert_eq!(*results.borrow(), ["cb outer", "firstCallback"]);
    a.callback("withers".into()).unwrap();
    assert_eq!(
        *results.borrow(),
        [
            "cb outer",
            "firstCallback",
            "secondCallback [\"withers\"]",
            "final"
        ]
    );
}

/// test_reentrantRunCallbacks and test_nonReentrantCallbacks: a callback
/// added by a running callback goes to the end of the chain and runs after
/// the running one returns.
#[test]
fn callbacks_added_from_a_callback_run_last_and_later() {
    let d: Deferred<()> = Deferred::new();
    let called: Log<i32> = log();
    let (c1, c2, d2) = (called.clone(), called.clone(), d.clone());
    let _ = d
        .clone()
        .add_callback(move |()| {
            c1.borrow_mut().push(1);
            let c3 = c1.clone();
            let _ = d2.add_callback(move |()| {
                c3.borrow_mut().push(3);
                Ok(())
            });
            assert_eq!(*c1.borrow(), [1]);
            Ok(())
        })
        .add_callback(move |()| {
            c2.borrow_mut().push(2);
            Ok(())
        });
    d.callback(()).unwrap();
    assert_eq!(*called.borrow(), [1, 2, 3]);
}

/// test_reentrantRunCallbacksWithFailure.
#[test]
fn a_failing_callback_added_from_a_callback_fails_the_chain() {
    let d: Deferred<()> = Deferred::new();
    let d2 = d.clone();
    let _ = d.clone().add_callback(move |()| {
        let _ = d2.add_callback(|()| -> Result<(), Failure> {
            Err(Failure::msg("callback raised exception"))
        });
        Ok(())
    });
    d.callback(()).unwrap();
    let seen = watch(&d);
    assert_eq!(failure(&seen).message(), "callback raised exception");
}

/// test_synchronousImplicitChain and test_asynchronousImplicitChain: a
/// deferred returned from a callback hands its result over and goes on with
/// none.
#[test]
fn a_returned_deferred_hands_its_result_over_and_goes_on_with_none() {
    let first = Deferred::succeed(5i64);
    let second: Deferred<()> = Deferred::new();
    let f = first.clone();
    let second_chain = second.clone().add_callback_deferred(move |()| f);
    second.callback(()).unwrap();
    let first_seen = watch(&view::<_, RawValue>(&first));
    assert_eq!(success(&first_seen).type_name(), "none");
    assert_eq!(success(&watch(&second_chain)), 5);

    let first: Deferred<i64> = Deferred::new();
    let second: Deferred<()> = Deferred::new();
    let f = first.clone();
    let second_chain = second.clone().add_callback_deferred(move |()| f);
    second.callback(()).unwrap();
    let first_seen = watch(&view::<_, RawValue>(&first));
    let second_seen = watch(&second_chain);
    assert!(first_seen.borrow().is_none() && second_seen.borrow().is_none());
    first.callback(6).unwrap();
    assert_eq!(success(&first_seen).type_name(), "none");
    assert_eq!(success(&second_seen), 6);
}

/// test_synchronousImplicitErrorChain and test_asynchronousImplicitErrorChain:
/// a returned deferred's failure moves to the outer chain; the inner one
/// goes on with none (so nothing is reported unhandled).
#[test]
fn a_returned_deferreds_failure_moves_to_the_outer_chain() {
    let first: Deferred<()> = Deferred::fail(Failure::msg("first's failure"));
    let second: Deferred<()> = Deferred::new();
    let f = first.clone();
    let chain = second.clone().add_callback_deferred(move |()| f);
    second.callback(()).unwrap();
    assert_eq!(success(&watch(&first)), ());
    assert_eq!(failure(&watch(&chain)).message(), "first's failure");

    let first: Deferred<()> = Deferred::new();
    let second: Deferred<()> = Deferred::new();
    let f = first.clone();
    let chain = second.clone().add_callback_deferred(move |()| f);
    second.callback(()).unwrap();
    let second_seen = watch(&chain);
    let first_seen = watch(&first);
    first.errback(Failure::msg("first's failure")).unwrap();
    assert_eq!(failure(&second_seen).message(), "first's failure");
    assert_eq!(success(&first_seen), ());
}

/// test_doubleAsynchronousImplicitChaining and
/// test_resultOfDeferredResultOfDeferredOfFiredDeferredCalled: chaining is
/// transitive.
#[test]
fn chaining_is_transitive() {
    let first: Deferred<i64> = Deferred::new();
    let second: Deferred<()> = Deferred::new();
    let third: Deferred<()> = Deferred::new();
    let f = first.clone();
    let second_chain = second.clone().add_callback_deferred(move |()| f);
    let s = second_chain.clone();
    let third_chain = third.clone().add_callback_deferred(move |()| s);
    let seen = watch(&third_chain);
    second.callback(()).unwrap();
    third.callback(()).unwrap();
    assert!(seen.borrow().is_none());
    first.callback(9).unwrap();
    assert_eq!(success(&seen), 9);

    // Fired in the other order; callbacks added to the middle one later
    // still run once the last fires.
    let first: Deferred<()> = Deferred::new();
    let second: Deferred<()> = Deferred::new();
    let third: Deferred<()> = Deferred::new();
    let s = second.clone();
    let _f = first.clone().add_callback_deferred(move |()| s);
    let t = third.clone();
    let second_chain = second.clone().add_callback_deferred(move |()| t);
    second.callback(()).unwrap();
    first.callback(()).unwrap();
    third.callback(()).unwrap();
    assert_eq!(success(&watch(&second_chain)), ());
}

/// test_chainDeferredRecordsExplicitChain, test_explicitChainClearedWhenResolved
/// (the behaviour, not the private attribute): `chain` fires the other
/// deferred and goes on with none.
#[test]
fn chain_fires_the_other_deferred() {
    let a: Deferred<i64> = Deferred::new();
    let b: Deferred<i64> = Deferred::new();
    let b_rest = b.clone().chain(&a).unwrap();
    let a_seen = watch(&a);
    b.callback(3).unwrap();
    assert_eq!(success(&a_seen), 3);
    assert_eq!(success(&watch(&b_rest)), ());

    // A failure travels too, and the source goes on with none.
    let a: Deferred<i64> = Deferred::new();
    let b: Deferred<i64> = Deferred::new();
    let b_rest = b.clone().chain(&a).unwrap();
    b.errback(Failure::msg("chained")).unwrap();
    assert_eq!(failure(&watch(&a)).message(), "chained");
    assert_eq!(success(&watch(&b_rest)), ());
}

/// test_circularChainWarning: a callback returning the deferred it is
/// attached to.  Twisted warns and the deferred then waits on itself for
/// good; here the chain fails with `Invalid` instead of hanging.
#[test]
fn a_callback_returning_its_own_deferred() {
    let d: Deferred<()> = Deferred::new();
    let me = d.clone();
    let chain = d.clone().add_callback_deferred(move |()| me);
    let seen = watch(&chain);
    d.callback(()).unwrap();
    let f = failure(&seen);
    assert_eq!(f.kind(), Some(ErrorCode::Invalid), "{f:?}");
}

/// test_boundedStackDepth: a long run of deferreds each returned from the
/// previous one's callback neither overflows the stack nor loses the result.
#[test]
fn long_chains_of_returned_deferreds_do_not_grow_the_stack() {
    const N: usize = 100_000;
    let inners: Vec<Deferred<()>> = (0..N).map(|_| Deferred::new()).collect();
    let last: Deferred<()> = Deferred::new();
    let top: Deferred<()> = Deferred::new();
    let first = inners[0].clone();
    let top_chain = top.clone().add_callback_deferred(move |()| first);
    // inner[i] returns inner[i+1]; the last inner returns `last`.
    let mut chains = Vec::new();
    for i in 0..N - 1 {
        let next = inners[i + 1].clone();
        chains.push(inners[i].clone().add_callback_deferred(move |()| next));
    }
    let l = last.clone();
    let _tail = inners[N - 1].clone().add_callback_deferred(move |()| l);
    let seen = watch(&top_chain);
    top.callback(()).unwrap();
    for d in &inners {
        d.callback(()).unwrap();
    }
    assert!(seen.borrow().is_none());
    last.callback(()).unwrap();
    assert_eq!(success(&seen), ());
}

// ---- AlreadyCalledTests ---------------------------------------------------

/// testAlreadyCalled_CC, _CE, _EE, _EC.
#[test]
fn firing_twice_is_already_called() {
    for (first_ok, second_ok) in [(true, true), (true, false), (false, false), (false, true)] {
        let d: Deferred<String> = Deferred::new();
        let _ = d.clone().add_both(|_| Ok(()));
        if first_ok {
            d.callback("hello".into()).unwrap();
        } else {
            d.errback(Failure::msg("first")).unwrap();
        }
        let r = if second_ok {
            d.callback("twice".into())
        } else {
            d.errback(Failure::msg("second"))
        };
        assert_eq!(kind(r), Some(ErrorCode::AlreadyCalled));
    }
}

// ---- DeferredCancellerTests ----------------------------------------------

/// test_noCanceller, test_noCancellerMultipleCancel.
#[test]
fn cancel_without_a_canceller_fails_with_cancelled_once() {
    let d: Deferred<()> = Deferred::new();
    let errbacks = Rc::new(Cell::new(0));
    let e = errbacks.clone();
    let seen = watch(&d.clone().add_errback(move |f| {
        e.set(e.get() + 1);
        Err(f)
    }));
    d.cancel();
    assert!(failure(&seen).is_cancelled());
    d.cancel();
    assert_eq!(errbacks.get(), 1);
}

/// test_raisesAfterCancelAndCallback, test_raisesAfterCancelAndErrback and
/// the two test_noCancellerMultipleCancelsAfterCancelAnd*: without a
/// canceller, one callback or errback after the cancel is ignored (the
/// operation being cancelled may still finish); the next is AlreadyCalled,
/// and later cancels do nothing.
#[test]
fn after_a_cancel_without_canceller_one_late_fire_is_ignored() {
    for late_ok in [true, false] {
        let d: Deferred<()> = Deferred::new();
        let seen = watch(&d);
        d.cancel();
        assert!(failure(&seen).is_cancelled());
        let late = if late_ok {
            d.callback(())
        } else {
            d.errback(Failure::msg("late"))
        };
        assert!(late.is_ok(), "the first late fire is ignored: {late:?}");
        assert_eq!(kind(d.callback(())), Some(ErrorCode::AlreadyCalled));
        assert_eq!(
            kind(d.errback(Failure::msg("again"))),
            Some(ErrorCode::AlreadyCalled)
        );
        d.cancel();
        assert!(seen.borrow().is_none());
    }
}

/// test_simpleCanceller, test_cancellerMultipleCancel, test_cancellerArg:
/// the canceller runs once, with the deferred itself; a canceller that does
/// not fire it leaves Cancelled, and later fires are AlreadyCalled.
#[test]
fn a_canceller_runs_once_with_its_deferred() {
    let calls = Rc::new(Cell::new(0));
    let seen_ptr = Rc::new(Cell::new(std::ptr::null_mut()));
    let (c, p) = (calls.clone(), seen_ptr.clone());
    let d: Deferred<()> = Deferred::with_canceller(move |me| {
        c.set(c.get() + 1);
        p.set(me.as_ptr());
    });
    let seen = watch(&d);
    d.cancel();
    d.cancel();
    assert_eq!(calls.get(), 1);
    assert_eq!(seen_ptr.get(), d.as_ptr());
    assert!(failure(&seen).is_cancelled());
    assert_eq!(kind(d.callback(())), Some(ErrorCode::AlreadyCalled));
    assert_eq!(
        kind(d.errback(Failure::msg("x"))),
        Some(ErrorCode::AlreadyCalled)
    );
}

/// test_cancelAfterCallback, test_cancelAfterErrback.
#[test]
fn cancelling_a_fired_deferred_does_nothing() {
    for ok in [true, false] {
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        let d: Deferred<String> = Deferred::with_canceller(move |d| {
            c.set(c.get() + 1);
            let _ = d.errback(Failure::msg("from the canceller"));
        });
        if ok {
            d.callback("biff!".into()).unwrap();
        } else {
            d.errback(Failure::msg("generic")).unwrap();
        }
        d.cancel();
        assert_eq!(calls.get(), 0);
        let got = watch(&d).borrow_mut().take().unwrap();
        match got {
            Ok(s) => assert!(ok && s == "biff!"),
            Err(f) => assert!(!ok && f.message() == "generic"),
        }
    }
}

/// test_cancellerThatErrbacks, test_cancellerThatCallbacks.
#[test]
fn a_canceller_may_fire_its_deferred() {
    let d: Deferred<String> = Deferred::with_canceller(|d| {
        let _ = d.errback(Failure::msg("generic"));
    });
    let seen = watch(&d);
    d.cancel();
    assert_eq!(failure(&seen).message(), "generic");

    let d: Deferred<String> = Deferred::with_canceller(|d| {
        let _ = d.callback("hello!".into());
    });
    let seen = watch(&d);
    d.cancel();
    assert_eq!(success(&seen), "hello!");
}

/// test_cancelNestedDeferred: cancelling a deferred that waits on one
/// returned from its callback cancels that one (its canceller runs, not
/// the outer one's).
#[test]
fn cancelling_a_waiting_deferred_cancels_what_it_waits_on() {
    let inner_calls = Rc::new(Cell::new(0));
    let ic = inner_calls.clone();
    let b: Deferred<()> = Deferred::with_canceller(move |_| ic.set(ic.get() + 1));
    let a: Deferred<()> = Deferred::with_canceller(|_| panic!("the outer canceller must not run"));
    a.callback(()).unwrap();
    let b2 = b.clone();
    let chain = a.clone().add_callback_deferred(move |()| b2);
    a.cancel();
    let seen = watch(&chain);
    assert_eq!(inner_calls.get(), 1);
    assert!(failure(&seen).is_cancelled());
}

// ---- DeferredList and gatherResults --------------------------------------

fn list_of<T: 'static>(ds: &[Deferred<T>], flags: ListFlags) -> Deferred<ListResult<T>> {
    deferred_list_with(ds.to_vec(), flags)
}

const PLAIN: ListFlags = ListFlags {
    fire_on_one_callback: false,
    fire_on_one_errback: false,
    consume_errors: false,
};

fn all<T: std::fmt::Debug>(r: ListResult<T>) -> Vec<Result<T, Failure>> {
    match r {
        ListResult::All(v) => v,
        other => panic!("expected every result, got {other:?}"),
    }
}

/// testDeferredList, testDeferredListDontConsumeErrors,
/// testDeferredListConsumeErrors.
#[test]
fn a_deferred_list_gives_every_result_in_order() {
    let ds: Vec<Deferred<String>> = (0..3).map(|_| Deferred::new()).collect();
    let l = watch(&list_of(&ds, PLAIN));
    ds[0].callback("1".into()).unwrap();
    assert!(l.borrow().is_none());
    ds[2].errback(Failure::msg("3")).unwrap();
    // Without consume_errors the input's own chain keeps the failure.
    assert_eq!(failure(&watch(&ds[2])).message(), "3");
    ds[1].callback("2".into()).unwrap();
    let r = all(success(&l));
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].as_ref().unwrap(), "1");
    assert_eq!(r[1].as_ref().unwrap(), "2");
    assert_eq!(r[2].as_ref().unwrap_err().message(), "3");

    let d: Deferred<()> = Deferred::new();
    let l = watch(&list_of(
        std::slice::from_ref(&d),
        ListFlags {
            consume_errors: true,
            ..PLAIN
        },
    ));
    d.errback(Failure::msg("Bang")).unwrap();
    assert_eq!(success(&watch(&d)), ());
    assert_eq!(all(success(&l))[0].as_ref().unwrap_err().message(), "Bang");
}

/// testEmptyDeferredList, DeferredListEmptyTests.  With
/// fire_on_one_callback too it fires at once (Twisted's never fires;
/// docs/design.md).
#[test]
fn an_empty_deferred_list_fires_at_once() {
    let l = watch(&list_of::<()>(&[], PLAIN));
    assert!(all(success(&l)).is_empty());
    let l = watch(&list_of::<()>(
        &[],
        ListFlags {
            fire_on_one_callback: true,
            ..PLAIN
        },
    ));
    assert!(all(success(&l)).is_empty());
}

/// testDeferredListFireOnOneError,
/// testDeferredListFireOnOneErrorWithAlreadyFiredDeferreds,
/// testDeferredListWithAlreadyFiredDeferreds.
#[test]
fn fire_on_one_errback_fails_with_the_first_error_and_its_index() {
    let ds: Vec<Deferred<i64>> = vec![Deferred::new(), Deferred::new(), Deferred::new()];
    let l = watch(&list_of(
        &ds,
        ListFlags {
            fire_on_one_errback: true,
            ..PLAIN
        },
    ));
    ds[0].callback(1).unwrap();
    ds[1].errback(Failure::msg("from def2")).unwrap();
    let f = failure(&l);
    assert_eq!(f.kind(), Some(ErrorCode::FirstError));
    assert_eq!(f.index(), Some(1));
    assert_eq!(f.cause().unwrap().message(), "from def2");
    let _ = ds[1].clone().add_errback(|_| Ok(0));

    let ds = vec![Deferred::succeed(1i64), Deferred::fail(Failure::msg("x"))];
    let l = watch(&list_of(
        &ds,
        ListFlags {
            fire_on_one_errback: true,
            ..PLAIN
        },
    ));
    assert_eq!(failure(&l).index(), Some(1));
    let _ = ds[1].clone().add_errback(|_| Ok(0));

    let ds = vec![Deferred::succeed(1i64), Deferred::fail(Failure::msg("x"))];
    let l = watch(&list_of(&ds, PLAIN));
    let r = all(success(&l));
    assert_eq!(*r[0].as_ref().unwrap(), 1);
    assert!(r[1].is_err());
    let _ = ds[1].clone().add_errback(|_| Ok(0));
}

/// test_cancelDeferredList, test_cancelDeferredListWithFireOnOneCallback,
/// test_cancelDeferredListWithFireOnOneErrback,
/// test_cancelDeferredListWithOriginalDeferreds.
#[test]
fn cancelling_a_deferred_list_cancels_its_inputs() {
    for (foc, foe) in [(false, false), (true, false), (false, true)] {
        let ds: Vec<Deferred<()>> = vec![Deferred::new(), Deferred::new()];
        let not_in_list: Deferred<()> = Deferred::new();
        let list = list_of(
            &ds,
            ListFlags {
                fire_on_one_callback: foc,
                fire_on_one_errback: foe,
                consume_errors: false,
            },
        );
        let l = watch(&list);
        list.cancel();
        assert!(failure(&watch(&ds[0])).is_cancelled());
        assert!(failure(&watch(&ds[1])).is_cancelled());
        assert_eq!(not_in_list.state(), State::Pending);
        let got = l.borrow_mut().take().unwrap();
        match got {
            Ok(ListResult::All(r)) => {
                assert!(!foe);
                assert!(r.iter().all(|e| e.as_ref().unwrap_err().is_cancelled()));
            }
            Ok(ListResult::First { .. }) => panic!("nothing succeeded"),
            Err(f) => {
                assert!(foe);
                assert_eq!(f.kind(), Some(ErrorCode::FirstError));
                assert!(f.cause().unwrap().is_cancelled());
            }
        }
    }
}

fn callback_canceller() -> Deferred<String> {
    Deferred::with_canceller(|d| {
        let _ = d.callback("Callback Result".into());
    })
}

/// test_cancelDeferredListCallback,
/// test_cancelDeferredListWithFireOnOneCallbackAndDeferredCallback,
/// test_cancelDeferredListWithFireOnOneErrbackAllDeferredsCallback.
#[test]
fn cancelling_a_list_whose_inputs_callback_in_their_cancellers() {
    let ds = vec![callback_canceller(), Deferred::new()];
    let list = list_of(&ds, PLAIN);
    let l = watch(&list);
    list.cancel();
    assert!(failure(&watch(&ds[1])).is_cancelled());
    let r = all(success(&l));
    assert_eq!(r[0].as_ref().unwrap(), "Callback Result");
    assert!(r[1].as_ref().unwrap_err().is_cancelled());

    let ds = vec![callback_canceller(), Deferred::new()];
    let list = list_of(
        &ds,
        ListFlags {
            fire_on_one_callback: true,
            ..PLAIN
        },
    );
    let l = watch(&list);
    list.cancel();
    assert!(failure(&watch(&ds[1])).is_cancelled());
    match success(&l) {
        ListResult::First { index, value } => {
            assert_eq!((index, value.as_str()), (0, "Callback Result"))
        }
        other => panic!("{other:?}"),
    }

    let ds = vec![callback_canceller(), callback_canceller()];
    let list = list_of(
        &ds,
        ListFlags {
            fire_on_one_errback: true,
            ..PLAIN
        },
    );
    let l = watch(&list);
    list.cancel();
    let r = all(success(&l));
    assert!(r.iter().all(|e| e.as_ref().unwrap() == "Callback Result"));
}

/// test_cancelDeferredListWithException: a canceller that panics (Python's
/// raise) does not stop the other inputs being cancelled.
#[test]
fn a_panicking_canceller_does_not_stop_the_list_cancel() {
    let ds: Vec<Deferred<()>> = vec![
        Deferred::with_canceller(|_| panic!("canceller raised")),
        Deferred::new(),
    ];
    let list = list_of(&ds, PLAIN);
    list.cancel();
    assert!(failure(&watch(&ds[1])).is_cancelled());
    // The panicking canceller's deferred is still cancelled.
    assert!(failure(&watch(&ds[0])).is_cancelled());
}

/// test_cancelFiredOnOneCallbackDeferredList,
/// test_cancelFiredOnOneErrbackDeferredList.
#[test]
fn cancelling_a_list_that_already_fired_leaves_the_inputs() {
    let ds: Vec<Deferred<()>> = vec![Deferred::new(), Deferred::new()];
    let list = list_of(
        &ds,
        ListFlags {
            fire_on_one_callback: true,
            ..PLAIN
        },
    );
    ds[0].callback(()).unwrap();
    list.cancel();
    assert_eq!(ds[1].state(), State::Pending);

    let ds: Vec<Deferred<()>> = vec![Deferred::new(), Deferred::new()];
    let list = list_of(
        &ds,
        ListFlags {
            fire_on_one_errback: true,
            ..PLAIN
        },
    );
    ds[0].errback(Failure::msg("test")).unwrap();
    list.cancel();
    assert_eq!(ds[1].state(), State::Pending);
    assert_eq!(failure(&watch(&ds[0])).message(), "test");
    assert_eq!(failure(&watch(&list)).kind(), Some(ErrorCode::FirstError));
}

/// test_gatherResults, test_gatherResultsWithConsumeErrors (gather always
/// consumes: its inputs are moved in).
#[test]
fn gather_gives_every_value_or_the_first_error() {
    let g = watch(&gather(vec![Deferred::succeed(1i64), Deferred::succeed(2)]));
    assert_eq!(success(&g), [1, 2]);

    let bad: Deferred<i64> = Deferred::fail(Failure::msg("oh noes"));
    let g = watch(&gather(vec![Deferred::succeed(1i64), bad.clone()]));
    let f = failure(&g);
    assert_eq!(f.kind(), Some(ErrorCode::FirstError));
    assert_eq!(f.cause().unwrap().message(), "oh noes");
    // Consumed: the input goes on with none.
    assert_eq!(success(&watch(&view::<_, ()>(&bad))), ());
}

/// test_cancelGatherResults, test_cancelGatherResultsWithAllDeferredsCallback.
#[test]
fn cancelling_gather_cancels_its_inputs() {
    let ds: Vec<Deferred<()>> = vec![Deferred::new(), Deferred::new()];
    let g = gather(ds.clone());
    let seen = watch(&g);
    g.cancel();
    let f = failure(&seen);
    assert_eq!(f.kind(), Some(ErrorCode::FirstError));
    assert!(f.cause().unwrap().is_cancelled());
    for d in &ds {
        assert_ne!(d.state(), State::Pending);
    }

    let g = gather(vec![callback_canceller(), callback_canceller()]);
    let seen = watch(&g);
    g.cancel();
    assert_eq!(success(&seen), ["Callback Result", "Callback Result"]);
}

/// test_maybeDeferredSync, test_maybeDeferredSyncException,
/// test_maybeDeferredSyncFailure, test_maybeDeferredAsync,
/// test_maybeDeferredAsyncError (arguments: the closure captures them).
#[test]
fn maybe_deferred_of_values_failures_panics_and_deferreds() {
    let (a, b) = (10i64, 20i64);
    assert_eq!(success(&watch(&maybe_deferred(move || Ok(a + b)))), 30);
    let s = watch(&maybe_deferred(|| -> Result<i64, Failure> {
        Err(Failure::msg("sync error"))
    }));
    assert_eq!(failure(&s).message(), "sync error");
    let s = watch(&maybe_deferred(|| -> Result<String, Failure> {
        let v: Vec<String> = Vec::new();
        Ok(v[0].clone())
    }));
    assert!(failure(&s).is_panic());

    let later: Deferred<String> = Deferred::new();
    let l = later.clone();
    let d = maybe_deferred(move || l);
    assert_eq!(d.as_ptr(), later.as_ptr());
    let s = watch(&d);
    later.callback("Success".into()).unwrap();
    assert_eq!(success(&s), "Success");

    let later: Deferred<String> = Deferred::new();
    let l = later.clone();
    let s = watch(&maybe_deferred(move || l));
    later.errback(Failure::msg("async error")).unwrap();
    assert_eq!(failure(&s).message(), "async error");
}

// ---- OtherPrimitivesTests -------------------------------------------------

/// testLock, test_cancelLockAfterAcquired, test_cancelLockBeforeAcquired.
#[test]
fn lock_acquire_release_and_cancel() {
    let lock = Lock::new();
    let counter = Rc::new(Cell::new(0));
    let incr = |c: &Rc<Cell<i32>>| {
        let c = c.clone();
        move |()| {
            c.set(c.get() + 1);
            Ok(())
        }
    };
    let _ = lock.acquire().unwrap().add_callback(incr(&counter));
    assert!(lock.locked());
    assert_eq!(counter.get(), 1);
    let _ = lock.acquire().unwrap().add_callback(incr(&counter));
    assert!(lock.locked());
    assert_eq!(counter.get(), 1);
    lock.release().unwrap();
    assert!(lock.locked());
    assert_eq!(counter.get(), 2);
    lock.release().unwrap();
    assert!(!lock.locked());
    // Releasing an unlocked lock is an error (Twisted: an assertion).
    assert_eq!(kind(lock.release()), Some(ErrorCode::Invalid));

    // A waiting acquire that is cancelled fails with Cancelled and leaves.
    lock.acquire().unwrap();
    let d = lock.acquire().unwrap();
    let seen = watch(&d);
    d.cancel();
    assert!(failure(&seen).is_cancelled());
    assert_eq!(lock.waiting(), 0);
    lock.release().unwrap();
    assert!(!lock.locked());

    // Cancelling an acquire that already holds the lock does nothing.
    let d = lock.acquire().unwrap();
    d.cancel();
    assert_eq!(success(&watch(&d)), ());
    assert!(lock.locked());
    lock.release().unwrap();
}

/// testLock's `run`: the function runs under the lock, which is held until
/// the deferred it returns fires.
#[test]
fn lock_run_holds_the_lock_until_the_returned_deferred_fires() {
    let lock = Lock::new();
    let control: Deferred<String> = Deferred::new();
    let c = control.clone();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let result = lock.run_deferred(move || {
        r.set(true);
        c
    });
    assert!(ran.get());
    assert!(lock.locked());
    let seen = watch(&result);
    let counter = Rc::new(Cell::new(0));
    let k = counter.clone();
    let _ = lock.acquire().unwrap().add_callback(move |()| {
        k.set(k.get() + 1);
        Ok(())
    });
    assert_eq!(counter.get(), 0);
    control.callback("second".into()).unwrap();
    assert_eq!(success(&seen), "second");
    assert!(lock.locked());
    assert_eq!(counter.get(), 1);
    lock.release().unwrap();
    assert!(!lock.locked());

    // A plain function: the lock is released once it returns.
    let s = watch(&lock.run(|| Ok(5i64)));
    assert_eq!(success(&s), 5);
    assert!(!lock.locked());
}

/// testSemaphore, test_semaphoreInvalidTokens,
/// test_cancelSemaphoreAfterAcquired, test_cancelSemaphoreBeforeAcquired.
#[test]
fn semaphore_tokens_run_and_cancel() {
    const N: u32 = 13;
    let sem = Semaphore::new(N).unwrap();
    let control: Deferred<()> = Deferred::new();
    let c = control.clone();
    let result = sem.run_deferred(move || c);
    let seen = watch(&result);
    assert_eq!(sem.tokens(), N - 1);
    assert!(seen.borrow().is_none());
    control.callback(()).unwrap();
    assert_eq!(success(&seen), ());
    assert_eq!(sem.tokens(), N);

    let counter = Rc::new(Cell::new(0));
    for i in 1..=N {
        let k = counter.clone();
        let _ = sem.acquire().unwrap().add_callback(move |()| {
            k.set(k.get() + 1);
            Ok(())
        });
        assert_eq!(counter.get(), i);
    }
    let d = sem.acquire().unwrap();
    let s = watch(&d);
    d.cancel();
    assert!(failure(&s).is_cancelled());
    let k = counter.clone();
    let _ = sem.acquire().unwrap().add_callback(move |()| {
        k.set(k.get() + 1);
        Ok(())
    });
    assert_eq!(counter.get(), N);
    sem.release().unwrap();
    assert_eq!(counter.get(), N + 1);
    for _ in 0..N {
        sem.release().unwrap();
    }
    assert_eq!(counter.get(), N + 1);
    // Releasing more than were taken is an error (Twisted: an assertion).
    assert_eq!(kind(sem.release()), Some(ErrorCode::Invalid));

    assert_eq!(
        Semaphore::new(0).err().unwrap().kind(),
        Some(ErrorCode::Invalid)
    );

    let sem = Semaphore::new(1).unwrap();
    let d = sem.acquire().unwrap();
    d.cancel();
    assert_eq!(success(&watch(&d)), ());
    let d = sem.acquire().unwrap();
    d.cancel();
    assert!(failure(&watch(&d)).is_cancelled());
}

/// testQueue, test_cancelQueueAfterSynchronousGet, test_cancelQueueAfterGet.
#[test]
fn queue_size_backlog_and_cancel() {
    const N: i64 = 2;
    const M: i64 = 2;
    let q: Queue<i64> = Queue::new(Some(N as usize), Some(M as usize));
    let gotten: Log<i64> = log();
    for _ in 0..M {
        let g = gotten.clone();
        let _ = q.get().add_callback(move |v| {
            g.borrow_mut().push(v);
            Ok(())
        });
    }
    // Twisted raises QueueUnderflow from get(); here the deferred fails.
    assert_eq!(failure(&watch(&q.get())).kind(), Some(ErrorCode::Underflow));
    for i in 0..M {
        q.put(i).unwrap();
        assert_eq!(*gotten.borrow(), (0..=i).collect::<Vec<_>>());
    }
    for i in 0..N {
        q.put(N + i).unwrap();
        assert_eq!(*gotten.borrow(), (0..M).collect::<Vec<_>>());
    }
    assert_eq!(kind(q.put(99)), Some(ErrorCode::Overflow));
    gotten.borrow_mut().clear();
    for i in 0..N {
        let g = gotten.clone();
        let _ = q.get().add_callback(move |v| {
            g.borrow_mut().push(v);
            Ok(())
        });
        assert_eq!(*gotten.borrow(), (N..=N + i).collect::<Vec<_>>());
    }

    let q: Queue<i64> = Queue::new(None, None);
    gotten.borrow_mut().clear();
    for _ in 0..N {
        let g = gotten.clone();
        let _ = q.get().add_callback(move |v| {
            g.borrow_mut().push(v);
            Ok(())
        });
    }
    for i in 0..N {
        q.put(i).unwrap();
    }
    assert_eq!(*gotten.borrow(), (0..N).collect::<Vec<_>>());

    let q: Queue<()> = Queue::new(Some(0), None);
    assert_eq!(kind(q.put(())), Some(ErrorCode::Overflow));
    let q: Queue<()> = Queue::new(None, Some(0));
    assert_eq!(failure(&watch(&q.get())).kind(), Some(ErrorCode::Underflow));

    // A get that already has its value is not cancelled.
    let q: Queue<i64> = Queue::new(None, None);
    let d = q.get();
    q.put(1).unwrap();
    d.cancel();
    assert_eq!(success(&watch(&d)), 1);

    // A waiting get that is cancelled leaves the queue: a later put is
    // kept for the next get.
    let q = Rc::new(Queue::<i64>::new(None, None));
    let d = q.get();
    d.cancel();
    assert_eq!(q.waiting(), 0);
    let q2 = q.clone();
    let s = watch(
        &d.add_errback(|f| if f.is_cancelled() { Ok(0) } else { Err(f) })
            .add_callback_deferred(move |_| {
                q2.put(5).unwrap();
                q2.get()
            }),
    );
    assert_eq!(success(&s), 5);
}

// ---- DeferredAddTimeoutTests ----------------------------------------------

const S: Duration = Duration::from_secs(1);

/// test_successResultBeforeTimeout(Custom), test_failureBeforeTimeout(Custom):
/// a result before the timeout passes through and cancels the timer.
#[test]
fn a_result_before_the_timeout_passes_through() {
    let r = Reactor::manual_clock().unwrap();
    for custom in [false, true] {
        let d: Deferred<String> = Deferred::new();
        if custom {
            d.add_timeout_with(&r, 10 * S, |_| Ok("OVERRIDDEN".into()))
                .unwrap();
        } else {
            d.add_timeout(&r, 10 * S).unwrap();
        }
        assert_eq!(r.pending_calls(), 1);
        let seen = watch(&d);
        r.advance(5 * S).unwrap();
        assert!(seen.borrow().is_none());
        d.callback("result".into()).unwrap();
        assert_eq!(r.pending_calls(), 0);
        r.advance(15 * S).unwrap();
        assert_eq!(success(&seen), "result");

        let d: Deferred<String> = Deferred::new();
        if custom {
            d.add_timeout_with(&r, 10 * S, |_| Ok("OVERRIDDEN".into()))
                .unwrap();
        } else {
            d.add_timeout(&r, 10 * S).unwrap();
        }
        let seen = watch(&d);
        d.errback(Failure::msg("what!")).unwrap();
        assert_eq!(r.pending_calls(), 0);
        r.advance(15 * S).unwrap();
        assert_eq!(failure(&seen).message(), "what!");
    }
}

/// test_timedOut, test_timedOutCustom.
#[test]
fn timing_out_fails_with_timed_out_or_what_the_function_gives() {
    let r = Reactor::manual_clock().unwrap();
    let d: Deferred<String> = Deferred::new();
    d.add_timeout(&r, 10 * S).unwrap();
    let seen = watch(&d);
    r.advance(15 * S).unwrap();
    assert_eq!(failure(&seen).kind(), Some(ErrorCode::TimedOut));

    let d: Deferred<String> = Deferred::new();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    d.add_timeout_with(&r, 10 * S, move |res| {
        *g.borrow_mut() = Some(res.err().map(|f| f.is_cancelled()));
        Ok("OVERRIDDEN".into())
    })
    .unwrap();
    let seen = watch(&d);
    r.advance(15 * S).unwrap();
    assert_eq!(success(&seen), "OVERRIDDEN");
    assert_eq!(*got.borrow(), Some(Some(true)));
}

/// test_timedOutProvidedCancelSuccess, test_timedOutProvidedCancelFailure:
/// a canceller's own result is kept (not turned into TimedOut).
#[test]
fn a_cancellers_result_is_kept_on_timeout() {
    let r = Reactor::manual_clock().unwrap();
    let d: Deferred<String> = Deferred::with_canceller(|c| {
        let _ = c.callback("I was cancelled!".into());
    });
    d.add_timeout(&r, 10 * S).unwrap();
    let seen = watch(&d);
    r.advance(15 * S).unwrap();
    assert_eq!(success(&seen), "I was cancelled!");

    let d: Deferred<String> = Deferred::with_canceller(|c| {
        let _ = c.errback(Failure::msg("what!"));
    });
    d.add_timeout(&r, 10 * S).unwrap();
    let seen = watch(&d);
    r.advance(15 * S).unwrap();
    assert_eq!(failure(&seen).message(), "what!");
}

/// test_cancelBeforeTimeout(Custom), test_providedCancelCalledBeforeTimeoutCustom:
/// a cancel before the timeout is a plain Cancelled, the timer goes and the
/// timeout function is not called.
#[test]
fn a_cancel_before_the_timeout_is_a_plain_cancel() {
    let r = Reactor::manual_clock().unwrap();
    for custom in [false, true] {
        let called = Rc::new(Cell::new(false));
        let c = called.clone();
        let d: Deferred<String> = Deferred::new();
        if custom {
            d.add_timeout_with(&r, 10 * S, move |res| {
                c.set(true);
                res
            })
            .unwrap();
        } else {
            d.add_timeout(&r, 10 * S).unwrap();
        }
        let seen = watch(&d);
        d.cancel();
        assert_eq!(r.pending_calls(), 0);
        let f = failure(&seen);
        assert!(f.is_cancelled() && f.kind() != Some(ErrorCode::TimedOut));
        r.advance(15 * S).unwrap();
        assert!(!called.get());
    }

    let cancellers = Rc::new(Cell::new(0));
    let k = cancellers.clone();
    let d: Deferred<String> = Deferred::with_canceller(move |_| k.set(k.get() + 1));
    d.add_timeout_with(&r, 10 * S, |_| Ok("OVERRIDDEN".into()))
        .unwrap();
    d.cancel();
    assert_eq!(cancellers.get(), 1);
    assert!(failure(&watch(&d)).is_cancelled());
}

/// test_errbackAddedBeforeTimeout(SuppressesCancellation)(Custom): an
/// errback added before the timeout sees Cancelled; returning it gives
/// TimedOut, recovering gives its value; a timeout function runs either way.
#[test]
fn an_errback_added_before_the_timeout_sees_cancelled() {
    let r = Reactor::manual_clock().unwrap();
    for (recover, custom) in [(false, false), (true, false), (false, true), (true, true)] {
        let d: Deferred<String> = Deferred::new();
        let saw = Rc::new(Cell::new(false));
        let s = saw.clone();
        let d2 = d.clone().add_errback(move |f| {
            s.set(f.is_cancelled());
            if recover {
                Ok("recovered".into())
            } else {
                Err(f)
            }
        });
        if custom {
            d2.add_timeout_with(&r, 10 * S, |_| Ok("OVERRIDDEN".into()))
                .unwrap();
        } else {
            d2.add_timeout(&r, 10 * S).unwrap();
        }
        let seen = watch(&d2);
        r.advance(15 * S).unwrap();
        assert!(saw.get());
        let got = seen.borrow_mut().take().unwrap();
        match (recover, custom) {
            (_, true) => assert_eq!(got.unwrap(), "OVERRIDDEN"),
            (true, false) => assert_eq!(got.unwrap(), "recovered"),
            (false, false) => assert_eq!(kind(got), Some(ErrorCode::TimedOut)),
        }
    }
}

/// test_callbackAddedToCancelerBeforeTimeout(Custom).
#[test]
fn a_callback_added_before_the_timeout_runs_with_the_cancellers_result() {
    let r = Reactor::manual_clock().unwrap();
    for custom in [false, true] {
        let d: Deferred<String> = Deferred::with_canceller(|d| {
            let _ = d.callback("success".into());
        });
        let saw = Rc::new(RefCell::new(String::new()));
        let s = saw.clone();
        let d2 = d.clone().add_callback(move |v: String| {
            *s.borrow_mut() = v.clone();
            Ok(v)
        });
        if custom {
            d2.add_timeout_with(&r, 10 * S, |_| Ok("OVERRIDDEN".into()))
                .unwrap();
        } else {
            d2.add_timeout(&r, 10 * S).unwrap();
        }
        let seen = watch(&d2);
        r.advance(15 * S).unwrap();
        assert_eq!(*saw.borrow(), "success");
        assert_eq!(
            success(&seen),
            if custom { "OVERRIDDEN" } else { "success" }
        );
    }
}

// ---- ensureDeferred / Future adapters --------------------------------------

/// test_ensureDeferredCoroutine, test_asFuture*, test_fromFuture*: async code
/// awaits deferreds and becomes one (`spawn_local`); cancelling the task's
/// deferred cancels what it awaits.
#[test]
fn async_code_and_deferreds_convert_both_ways() {
    let r = Reactor::manual_clock().unwrap();
    let inner: Deferred<i64> = Deferred::new();
    let i = inner.clone();
    let task = r.spawn_local(async move { Ok(i.await? + 1) });
    let seen = watch(&task);
    inner.callback(41).unwrap();
    // The task wakes through the reactor's loop.
    pump(&r, || seen.borrow().is_some());
    assert_eq!(success(&seen), 42);
    // As with Twisted's await, the awaited deferred goes on with none.
    assert_eq!(
        success(&watch(&view::<_, RawValue>(&inner))).type_name(),
        "none"
    );

    let cancelled = Rc::new(Cell::new(0));
    let c = cancelled.clone();
    let inner: Deferred<i64> = Deferred::with_canceller(move |_| c.set(c.get() + 1));
    let i = inner.clone();
    let task = r.spawn_local(async move { i.await });
    task.cancel();
    // Unlike Twisted, the coroutine cannot catch the cancel and go on: the
    // future is dropped (Rust's cancellation), and the task fails Cancelled.
    // The await took the inner deferred's result (its chain goes on with
    // none), so its canceller is what shows it was cancelled.
    assert_eq!(cancelled.get(), 1);
    assert!(failure(&watch(&task)).is_cancelled());

    let inner: Deferred<i64> = Deferred::new();
    let i = inner.clone();
    let task = r.spawn_local(async move { i.await });
    let seen = watch(&task);
    inner.errback(Failure::msg("failed")).unwrap();
    pump(&r, || seen.borrow().is_some());
    assert_eq!(failure(&seen).message(), "failed");
}

// ---- Edges Twisted's code decides (checked against Twisted 22.4) -----------

/// Pauses nest; an unpause without a pause is `Invalid` here (Twisted lets
/// the count go negative, so a later pause then does not pause).
#[test]
fn pauses_nest_and_an_extra_unpause_is_refused() {
    let d = Deferred::succeed(1i64);
    d.pause().unwrap();
    d.pause().unwrap();
    d.unpause().unwrap();
    let seen = watch(&d);
    assert!(seen.borrow().is_none());
    d.unpause().unwrap();
    assert_eq!(success(&seen), 1);
    let d: Deferred<()> = Deferred::new();
    assert_eq!(kind(d.unpause()), Some(ErrorCode::Invalid));
    assert_eq!(d.paused(), 0);
}

/// Firing a deferred from one of its own callbacks is AlreadyCalled;
/// cancelling it there does nothing.
#[test]
fn firing_or_cancelling_from_its_own_callback() {
    let d: Deferred<i64> = Deferred::new();
    let me = d.clone();
    let inside = Rc::new(Cell::new(None));
    let i = inside.clone();
    let chain = d.clone().add_callback(move |x| {
        i.set(Some(kind(me.callback(2))));
        me.cancel();
        Ok(x)
    });
    let seen = watch(&chain);
    d.callback(1).unwrap();
    assert_eq!(inside.get(), Some(Some(ErrorCode::AlreadyCalled)));
    assert_eq!(success(&seen), 1);
}

/// chainDeferred with cancels: cancelling the target (no canceller) fails
/// it with Cancelled and the source's later result is swallowed by it;
/// cancelling the source cancels the target through the chain.
#[test]
fn cancelling_either_end_of_a_chain() {
    let a: Deferred<i64> = Deferred::new();
    let b: Deferred<i64> = Deferred::new();
    let b_rest = b.clone().chain(&a).unwrap();
    let a_seen = watch(&a);
    a.cancel();
    assert!(failure(&a_seen).is_cancelled());
    b.callback(5).unwrap();
    assert_eq!(success(&watch(&b_rest)), ());

    let a: Deferred<i64> = Deferred::new();
    let b: Deferred<i64> = Deferred::new();
    let _b_rest = b.clone().chain(&a).unwrap();
    let a_seen = watch(&a);
    b.cancel();
    assert!(failure(&a_seen).is_cancelled());
}

/// addTimeout on a deferred that already fired leaves no timer; of two
/// timeouts the first wins and takes the other timer with it; a zero
/// timeout fires on the next turn of the clock.
#[test]
fn timeouts_on_fired_deferreds_twice_and_zero() {
    let r = Reactor::manual_clock().unwrap();
    let d = Deferred::succeed(1i64);
    d.add_timeout(&r, 5 * S).unwrap();
    assert_eq!(r.pending_calls(), 0);
    assert_eq!(success(&watch(&d)), 1);

    let d: Deferred<i64> = Deferred::new();
    d.add_timeout(&r, 5 * S).unwrap();
    d.add_timeout(&r, 10 * S).unwrap();
    let seen = watch(&d);
    r.advance(5 * S).unwrap();
    assert_eq!(failure(&seen).kind(), Some(ErrorCode::TimedOut));
    assert_eq!(r.pending_calls(), 0);

    let d: Deferred<i64> = Deferred::new();
    d.add_timeout(&r, Duration::ZERO).unwrap();
    let seen = watch(&d);
    assert!(seen.borrow().is_none());
    r.advance(Duration::ZERO).unwrap();
    assert_eq!(failure(&seen).kind(), Some(ErrorCode::TimedOut));
}

/// A timeout on a deferred waiting on one returned from its callback
/// cancels that inner deferred.
#[test]
fn a_timeout_reaches_the_deferred_waited_on() {
    let r = Reactor::manual_clock().unwrap();
    let inner_cancelled = Rc::new(Cell::new(false));
    let ic = inner_cancelled.clone();
    let inner: Deferred<i64> = Deferred::with_canceller(move |_| ic.set(true));
    let outer: Deferred<()> = Deferred::new();
    let i = inner.clone();
    let chain = outer.clone().add_callback_deferred(move |()| i);
    chain.add_timeout(&r, S).unwrap();
    let seen = watch(&chain);
    outer.callback(()).unwrap();
    r.advance(S).unwrap();
    assert!(inner_cancelled.get());
    assert_eq!(failure(&seen).kind(), Some(ErrorCode::TimedOut));
}

/// Lock.run cancelled while it waits: the function never runs; a failing
/// run releases the lock (and a semaphore's token).
#[test]
fn lock_and_semaphore_runs_cancelled_or_failing() {
    let lock = Lock::new();
    lock.acquire().unwrap();
    let ran = Rc::new(Cell::new(false));
    let k = ran.clone();
    let d = lock.run(move || {
        k.set(true);
        Ok(())
    });
    let seen = watch(&d);
    d.cancel();
    assert!(failure(&seen).is_cancelled());
    lock.release().unwrap();
    assert!(!ran.get() && !lock.locked());

    let s = watch(&lock.run(|| -> Result<(), Failure> { Err(Failure::msg("x")) }));
    assert_eq!(failure(&s).message(), "x");
    assert!(!lock.locked());
    let s = watch(&lock.run_deferred(|| Deferred::<()>::fail(Failure::msg("y"))));
    assert_eq!(failure(&s).message(), "y");
    assert!(!lock.locked());

    let sem = Semaphore::new(1).unwrap();
    let s = watch(&sem.run(|| -> Result<(), Failure> { Err(Failure::msg("x")) }));
    assert_eq!(failure(&s).message(), "x");
    assert_eq!(sem.tokens(), 1);
    // A run_deferred cancelled while its deferred is pending gives the
    // token back too.
    let pending: Deferred<()> = Deferred::new();
    let p = pending.clone();
    let d = sem.run_deferred(move || p);
    assert_eq!(sem.tokens(), 0);
    d.cancel();
    assert!(failure(&watch(&d)).is_cancelled());
    assert_eq!(sem.tokens(), 1);
}

/// FirstErrorTests (test_repr, test_str): a FirstError tells which input
/// failed and how.  (test_comparison has no counterpart: `Failure` has no
/// equality.)
#[test]
fn a_first_error_names_its_index_and_failure() {
    let ds: Vec<Deferred<()>> = vec![
        Deferred::new(),
        Deferred::new(),
        Deferred::new(),
        Deferred::new(),
    ];
    let g = watch(&gather(ds.clone()));
    ds[3].errback(Failure::msg("some text")).unwrap();
    let f = failure(&g);
    assert_eq!(f.index(), Some(3));
    // describe() is Twisted's str(): the index and the failure; Display is
    // the FirstError alone (Rust's convention: the cause is `source()`).
    let described = f.describe();
    assert!(described.contains("#3"), "{described}");
    assert!(described.contains("some text"), "{described}");
    let source = std::error::Error::source(&f).unwrap().to_string();
    assert!(source.contains("some text"), "{source}");
}

/// Cancelling a deferred that waits on one which already has its result
/// (but is paused) does nothing: the result comes once it is unpaused.
#[test]
fn cancelling_while_waiting_on_a_fired_paused_deferred() {
    let inner = Deferred::succeed(5i64);
    inner.pause().unwrap();
    let outer: Deferred<()> = Deferred::new();
    let i = inner.clone();
    let chain = outer.clone().add_callback_deferred(move |()| i);
    outer.callback(()).unwrap();
    let seen = watch(&chain);
    chain.cancel();
    assert!(seen.borrow().is_none());
    inner.unpause().unwrap();
    assert_eq!(success(&seen), 5);
}

/// A paused deferred that is cancelled holds its Cancelled until unpaused.
#[test]
fn cancelling_a_paused_deferred() {
    let d: Deferred<()> = Deferred::new();
    d.pause().unwrap();
    d.cancel();
    let seen = watch(&d);
    assert!(seen.borrow().is_none());
    d.unpause().unwrap();
    assert!(failure(&seen).is_cancelled());
}

/// chainDeferred to a deferred that already fired: the source's chain gets
/// AlreadyCalled; the target keeps its result.
#[test]
fn chaining_to_a_fired_deferred_is_already_called() {
    let a: Deferred<i64> = Deferred::new();
    let b = Deferred::succeed(1i64);
    let rest = a.clone().chain(&b).unwrap();
    a.callback(2).unwrap();
    assert_eq!(
        failure(&watch(&rest)).kind(),
        Some(ErrorCode::AlreadyCalled)
    );
    assert_eq!(success(&watch(&b)), 1);
}

/// A timeout function that fails (Python: raises) gives its failure.
#[test]
fn a_failing_timeout_function() {
    let r = Reactor::manual_clock().unwrap();
    let d: Deferred<i64> = Deferred::new();
    d.add_timeout_with(&r, S, |_| Err(Failure::msg("from onTimeoutCancel")))
        .unwrap();
    let e: Deferred<i64> = Deferred::new();
    e.add_timeout_with(&r, S, |_| panic!("raised")).unwrap();
    let (sd, se) = (watch(&d), watch(&e));
    r.advance(S).unwrap();
    assert_eq!(failure(&sd).message(), "from onTimeoutCancel");
    assert!(failure(&se).is_panic());
}

/// test_ensureDeferredCoroutine: async code awaiting fired deferreds has
/// its result when `spawn_local` returns.
#[test]
fn spawn_local_of_ready_awaits_fires_at_once() {
    let r = Reactor::manual_clock().unwrap();
    let d = r.spawn_local(async { Deferred::succeed(String::from("foo")).await });
    assert_eq!(success(&watch(&d)), "foo");
}

/// DeferredFutureAdapterTests (asFuture): a deferred's future gives its
/// result or failure (the deferred goes on with none); dropping the pending
/// future cancels the deferred, whatever its canceller makes of it.
#[test]
fn a_deferreds_future_and_its_cancel() {
    let d: Deferred<i64> = Deferred::new();
    let mut fut = d.clone().into_future_local();
    assert!(poll_now(&mut fut).is_pending());
    d.callback(13).unwrap();
    assert!(matches!(poll_now(&mut fut), std::task::Poll::Ready(Ok(13))));
    assert_eq!(
        success(&watch(&view::<_, RawValue>(&d))).type_name(),
        "none"
    );

    let d: Deferred<i64> = Deferred::new();
    let mut fut = d.clone().into_future_local();
    assert!(poll_now(&mut fut).is_pending());
    d.errback(Failure::msg("zero division")).unwrap();
    match poll_now(&mut fut) {
        std::task::Poll::Ready(Err(f)) => assert_eq!(f.message(), "zero division"),
        _ => panic!("expected the failure"),
    }

    for succeed_on_cancel in [false, true] {
        let called = Rc::new(Cell::new(false));
        let c = called.clone();
        let d: Deferred<i64> = Deferred::with_canceller(move |d| {
            c.set(true);
            if succeed_on_cancel {
                let _ = d.callback(9);
            }
        });
        let mut fut = d.clone().into_future_local();
        assert!(poll_now(&mut fut).is_pending());
        drop(fut);
        assert!(called.get());
        assert_eq!(
            success(&watch(&view::<_, RawValue>(&d))).type_name(),
            "none"
        );
    }
}

/// consume_errors still applies to inputs that fail after the list fired
/// (fire_on_one_callback or fire_on_one_errback), and to gather's.
#[test]
fn late_failures_are_consumed_after_the_list_fired() {
    for (foc, foe) in [(true, false), (false, true)] {
        let ds: Vec<Deferred<i64>> = vec![Deferred::new(), Deferred::new()];
        let list = list_of(
            &ds,
            ListFlags {
                fire_on_one_callback: foc,
                fire_on_one_errback: foe,
                consume_errors: true,
            },
        );
        let l = watch(&list);
        if foc {
            ds[0].callback(1).unwrap();
        } else {
            ds[0].errback(Failure::msg("x")).unwrap();
        }
        assert!(l.borrow().is_some());
        ds[1].errback(Failure::msg("late")).unwrap();
        assert_eq!(
            success(&watch(&view::<_, RawValue>(&ds[1]))).type_name(),
            "none"
        );
    }
    let ds: Vec<Deferred<i64>> = vec![Deferred::new(), Deferred::new()];
    let g = watch(&gather(ds.clone()));
    ds[0].errback(Failure::msg("x")).unwrap();
    assert_eq!(failure(&g).kind(), Some(ErrorCode::FirstError));
    ds[1].errback(Failure::msg("late")).unwrap();
    assert_eq!(
        success(&watch(&view::<_, RawValue>(&ds[1]))).type_name(),
        "none"
    );
}

/// The same deferred twice in a list: without consume_errors its result
/// passes on, so both entries get it.
#[test]
fn the_same_deferred_twice_in_a_list() {
    let a: Deferred<i64> = Deferred::new();
    let l = watch(&list_of(&[a.clone(), a.clone()], PLAIN));
    a.callback(3).unwrap();
    let r = all(success(&l));
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|e| *e.as_ref().unwrap() == 3));
}

/// A Rust value that is not one of the C-mapped types cannot be copied by
/// the library: a DeferredList input without consume_errors goes on with
/// none instead of its value (Twisted: the same value), so a second entry
/// of the same deferred, or a callback added to the input after the list,
/// reads none.
#[test]
fn list_inputs_of_rust_values_go_on_with_none() {
    #[derive(Debug, PartialEq)]
    struct Tag(i64);
    let a: Deferred<Tag> = Deferred::new();
    let l = watch(&list_of(&[a.clone(), a.clone()], PLAIN));
    a.callback(Tag(3)).unwrap();
    let r = all(success(&l));
    assert_eq!(*r[0].as_ref().unwrap(), Tag(3));
    assert_eq!(r[1].as_ref().unwrap_err().code(), deferred::RUST_WRONG_TYPE);
    assert_eq!(
        success(&watch(&view::<_, RawValue>(&a))).type_name(),
        "none"
    );
}

/// Dropping a Lock or Semaphore while a run holds it and waits on its
/// deferred: the waiters fail with Cancelled, the run still gets its result.
#[test]
fn dropping_a_lock_while_a_run_waits() {
    let lock = Lock::new();
    let pending: Deferred<i64> = Deferred::new();
    let p = pending.clone();
    let run = watch(&lock.run_deferred(move || p));
    let waiter = watch(&lock.acquire().unwrap());
    drop(lock);
    assert!(failure(&waiter).is_cancelled());
    pending.callback(4).unwrap();
    assert_eq!(success(&run), 4);

    let sem = Semaphore::new(1).unwrap();
    let pending: Deferred<i64> = Deferred::new();
    let p = pending.clone();
    let run = watch(&sem.run_deferred(move || p));
    let waiter = watch(&sem.acquire().unwrap());
    drop(sem);
    assert!(failure(&waiter).is_cancelled());
    pending.callback(5).unwrap();
    assert_eq!(success(&run), 5);
}

/// testCallbackErrors' second half: in Twisted a callback returning a
/// Failure takes the errback path, and one returning a Deferred is waited
/// for.  Here the types say which: `Err` fails and `add_callback_deferred`
/// waits, while a `Failure` or a `Deferred` returned as a value (`Ok`)
/// stays a plain value.
#[test]
fn failures_and_deferreds_as_values_stay_values() {
    let s = watch(&Deferred::succeed(()).add_callback(|()| Ok(Failure::msg("a value"))));
    assert_eq!(success(&s).message(), "a value");

    let inner: Deferred<i64> = Deferred::new();
    let i = inner.clone();
    let s = watch(&Deferred::succeed(()).add_callback(move |()| Ok(i)));
    let got = success(&s);
    assert_eq!(got.as_ptr(), inner.as_ptr());
    assert_eq!(got.state(), State::Pending);
}

/// A deferred waiting on one returned from its callback has been called:
/// firing it again is AlreadyCalled, though its state reads Pending.
#[test]
fn a_waiting_deferred_was_already_called() {
    let inner: Deferred<i64> = Deferred::new();
    let outer: Deferred<()> = Deferred::new();
    let i = inner.clone();
    let chain = outer.clone().add_callback_deferred(move |()| i);
    outer.callback(()).unwrap();
    assert_eq!(chain.state(), State::Pending);
    assert_eq!(kind(outer.callback(())), Some(ErrorCode::AlreadyCalled));
    assert_eq!(
        kind(outer.errback(Failure::msg("x"))),
        Some(ErrorCode::AlreadyCalled)
    );
    inner.callback(1).unwrap();
    assert_eq!(success(&watch(&chain)), 1);
}

/// run_deferred's closure: a panic fails the run and releases the lock; a
/// deferred that already fired gives its result at once; the closure is
/// dropped once whether it ran or its run was cancelled while waiting.
#[test]
fn run_deferred_panics_fired_deferreds_and_drops() {
    let lock = Lock::new();
    let s = watch(&lock.run_deferred(|| -> Deferred<i64> { panic!("raised") }));
    assert!(failure(&s).is_panic());
    assert!(!lock.locked());
    let s = watch(&lock.run_deferred(|| Deferred::succeed(3i64)));
    assert_eq!(success(&s), 3);
    assert!(!lock.locked());

    let drops = common::counter();
    let k = common::Counted(drops.clone(), 0);
    let s = watch(&lock.run_deferred(move || {
        let _k = &k;
        Deferred::succeed(())
    }));
    success(&s);
    assert_eq!(common::n(&drops), 1);

    lock.acquire().unwrap();
    let k = common::Counted(drops.clone(), 0);
    let d = lock.run_deferred(move || {
        let _k = &k;
        Deferred::succeed(())
    });
    d.cancel();
    assert_eq!(common::n(&drops), 2);
    assert!(failure(&watch(&d)).is_cancelled());
    lock.release().unwrap();
}

/// Two tasks awaiting one deferred: the first await takes the result and
/// the deferred goes on with none, so the second gets none.  Twisted gives
/// the second coroutine `None`; here reading none as an `i64` is a
/// `RUST_WRONG_TYPE` failure (a `Deferred<()>` would read `()`); to share a
/// result, clone it in a callback.
#[test]
fn two_awaits_of_one_deferred() {
    let r = Reactor::manual_clock().unwrap();
    let d: Deferred<i64> = Deferred::new();
    let (d1, d2) = (d.clone(), d.clone());
    let a = watch(&r.spawn_local(async move { d1.await }));
    let b = watch(&r.spawn_local(async move { d2.await }));
    d.callback(3).unwrap();
    pump(&r, || a.borrow().is_some() && b.borrow().is_some());
    assert_eq!(success(&a), 3);
    assert_eq!(failure(&b).code(), deferred::RUST_WRONG_TYPE);
}

/// A callback that pauses its own deferred stops the chain right after it
/// returns (docs/design.md; Twisted still runs the callbacks queued behind
/// it and only notices the pause between deferreds).
#[test]
fn a_pause_inside_a_callback_stops_the_chain_after_it() {
    let d: Deferred<()> = Deferred::new();
    let me = d.clone();
    let ran = Rc::new(Cell::new(false));
    let k = ran.clone();
    let _ = d
        .clone()
        .add_callback(move |()| me.pause())
        .add_callback(move |()| {
            k.set(true);
            Ok(())
        });
    d.callback(()).unwrap();
    assert!(!ran.get());
    d.unpause().unwrap();
    assert!(ran.get());
}

/// The canceller is dropped as soon as the deferred has a result (it can
/// never run again), not when the deferred is freed (docs/design.md).
#[test]
fn the_canceller_goes_when_the_deferred_fires() {
    let drops = common::counter();
    let k = common::Counted(drops.clone(), 0);
    let d: Deferred<()> = Deferred::with_canceller(move |_| drop(k));
    assert_eq!(common::n(&drops), 0);
    d.callback(()).unwrap();
    assert_eq!(common::n(&drops), 1);
    d.cancel();
    assert_eq!(common::n(&drops), 1);
}
