//! Typed chains, values travelling through C, exactly-once drops, panics and
//! misuse on deferreds (no reactor needed).
mod common;
use common::{counter, n, poll_now, Counted};
use deferred::{Deferred, ErrorCode, Failure, State};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

#[test]
fn typed_chain_changes_types() {
    let d: Deferred<i64> = Deferred::new();
    let out = Rc::new(RefCell::new(String::new()));
    let o = out.clone();
    let chain = d
        .clone()
        .add_callback(|x: i64| Ok(x * 2))
        .add_callback(|x: i64| Ok(format!("got {x}")))
        .add_callback(move |s: String| {
            *o.borrow_mut() = s;
            Ok(())
        });
    assert_eq!(chain.state(), State::Pending);
    d.callback(21).unwrap();
    assert_eq!(*out.borrow(), "got 42");
    assert_eq!(chain.state(), State::Succeeded);
}

#[test]
fn errbacks_and_both() {
    let d: Deferred<i64> = Deferred::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let _c = d
        .clone()
        .add_callback(|_x: i64| -> Result<i64, Failure> { Err(Failure::msg("boom")) })
        .add_callback(|_x: i64| -> Result<i64, Failure> { panic!("skipped on the errback path") })
        .add_errback(move |f| {
            s1.borrow_mut().push(f.message().into_owned());
            Ok(7)
        })
        .add_both(move |r: Result<i64, Failure>| {
            s2.borrow_mut()
                .push(format!("{:?}", r.map_err(|e| e.code())));
            Ok(())
        });
    d.callback(1).unwrap();
    assert_eq!(
        *seen.borrow(),
        vec!["boom".to_string(), "Ok(7)".to_string()]
    );
}

#[test]
fn returning_a_deferred_from_a_callback_waits_for_it() {
    let inner: Deferred<String> = Deferred::new();
    let i2 = inner.clone();
    let d: Deferred<i64> = Deferred::succeed(3);
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let _c = d
        .add_callback_deferred(move |x: i64| {
            i2.add_callback(move |s: String| Ok(format!("{s}{x}")))
        })
        .add_callback(move |s: String| {
            *g.borrow_mut() = Some(s);
            Ok(())
        });
    assert!(got.borrow().is_none());
    inner.callback("x".to_string()).unwrap();
    assert_eq!(got.borrow().as_deref(), Some("x3"));
}

#[test]
fn rust_values_are_dropped_exactly_once_on_every_path() {
    let c = counter();
    // Fired and consumed by a callback.
    {
        let d = Deferred::succeed(Counted(c.clone(), 1));
        let _d = d.add_callback(|v: Counted| Ok(v.1));
    }
    assert_eq!(n(&c), 1);
    // Fired, nobody consumed it: the deferred drops it when freed.
    drop(Deferred::succeed(Counted(c.clone(), 2)));
    assert_eq!(n(&c), 2);
    // A callback closure holding a value, never run (freed unfired).
    {
        let k = Counted(c.clone(), 3);
        let _d = Deferred::<i64>::new().add_callback(move |x| {
            let k = k; // the whole value, not a copy of a field
            Ok(x + k.1)
        });
    }
    assert_eq!(n(&c), 3);
    // Cancelled: the closure and the canceller go once.
    {
        let k = Counted(c.clone(), 4);
        let k2 = Counted(c.clone(), 5);
        let d = Deferred::<i64>::with_canceller(move |_d| drop(k2));
        let d = d.add_callback(move |x| {
            let k = k; // the whole value, not a copy of a field
            Ok(x + k.1)
        });
        d.cancel();
        let d = d.add_errback(|f| {
            assert!(f.is_cancelled());
            Ok(0)
        });
        d.cancel(); // no effect once it has a result
        assert_eq!(d.state(), State::Succeeded);
    }
    assert_eq!(n(&c), 5);
    // Fired after a callback returned the value in another type.
    {
        let d: Deferred<Counted> = Deferred::new();
        let chain = d.clone().add_callback(|v: Counted| Ok(Box::new(v)));
        d.callback(Counted(c.clone(), 6)).unwrap();
        drop(chain);
        drop(d);
    }
    assert_eq!(n(&c), 6);
    // Firing twice: the second value is dropped at once.
    {
        let d: Deferred<Counted> = Deferred::new();
        d.callback(Counted(c.clone(), 7)).unwrap();
        let e = d.callback(Counted(c.clone(), 8)).unwrap_err();
        assert_eq!(e.kind(), Some(ErrorCode::AlreadyCalled));
        assert_eq!(n(&c), 7);
    }
    assert_eq!(n(&c), 8);
}

#[test]
fn a_panic_in_a_callback_becomes_a_failure() {
    let d: Deferred<i64> = Deferred::new();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let _c = d
        .clone()
        .add_callback(|x: i64| -> Result<i64, Failure> { panic!("callback exploded with {x}") })
        .add_errback(move |f| {
            *g.borrow_mut() = Some((f.is_panic(), f.message().into_owned()));
            Ok(0)
        });
    d.callback(5).unwrap();
    let (is_panic, msg) = got.borrow().clone().unwrap();
    assert!(is_panic);
    assert!(msg.contains("callback exploded with 5"), "{msg}");
}

#[test]
fn a_value_of_another_type_is_a_failure_not_ub() {
    // A C deferred firing with an i64, read as a String.
    // SAFETY: a valid deferred whose reference moves in.
    let d: Deferred<String> =
        unsafe { Deferred::from_raw(deferred::sys::dfr_succeed(deferred::sys::dfr_i64(5))) };
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let _c = d.add_both(move |r: Result<String, Failure>| {
        *g.borrow_mut() = Some(r);
        Ok(())
    });
    let f = got.borrow_mut().take().unwrap().unwrap_err();
    assert!(f.check(deferred::RUST_DOMAIN, deferred::RUST_WRONG_TYPE));
    assert!(f.message().contains("got a i64"), "{}", f.message());
    // A Rust value of another Rust type.
    let c = counter();
    // SAFETY: as above; the "rust" value holds a Counted.
    let d: Deferred<i64> =
        unsafe { Deferred::from_raw(Deferred::succeed(Counted(c.clone(), 1)).into_raw()) };
    let _c = d.add_callback(|x: i64| Ok(x)).add_errback(|f| {
        assert!(f.check(deferred::RUST_DOMAIN, deferred::RUST_WRONG_TYPE));
        Ok(0)
    });
    assert_eq!(n(&c), 1, "the mismatched value was dropped once");
}

#[test]
fn c_values_convert() {
    use deferred::sys;
    // SAFETY: valid values moving into deferreds whose references move in.
    unsafe {
        let bytes = sys::dfr_bytes_new(b"hey".as_ptr().cast(), 3);
        let d: Deferred<String> = Deferred::from_raw(sys::dfr_succeed(bytes));
        let _ = d.add_callback(|s: String| {
            assert_eq!(s, "hey");
            Ok(())
        });
        let d: Deferred<f64> = Deferred::from_raw(sys::dfr_succeed(sys::dfr_f64(2.5)));
        let _ = d.add_callback(|x: f64| {
            assert_eq!(x, 2.5);
            Ok(())
        });
        let d: Deferred<()> = Deferred::from_raw(sys::dfr_succeed(sys::dfr_none()));
        let _ = d.add_callback(|()| Ok(()));
        let d: Deferred<deferred::RawValue> =
            Deferred::from_raw(sys::dfr_succeed(sys::dfr_ptr(std::ptr::null_mut())));
        let _ = d.add_callback(|r: deferred::RawValue| {
            assert_eq!(r.type_name(), "ptr");
            Ok(())
        });
    }
    // Rust's i64/String become C's i64/bytes (C code can read them).
    let d = Deferred::succeed(String::from("abc"));
    // SAFETY: reading the current result of a live deferred.
    unsafe {
        let v = deferred::sys::dfr_deferred_result(d.as_ptr());
        assert!(deferred::sys::dfr_is_bytes(*v));
        assert_eq!(deferred::sys::dfr_bytes_len(v), 3);
    }
}

#[test]
fn misuse_gives_errors() {
    let d: Deferred<i64> = Deferred::new();
    assert_eq!(d.unpause().unwrap_err().kind(), Some(ErrorCode::Invalid));
    d.pause().unwrap();
    assert_eq!(d.paused(), 1);
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let c = d.clone().add_callback(move |x: i64| {
        *g.borrow_mut() = Some(x);
        Ok(())
    });
    d.callback(1).unwrap();
    assert!(got.borrow().is_none(), "paused");
    d.unpause().unwrap();
    assert_eq!(*got.borrow(), Some(1));
    assert_eq!(
        d.errback(Failure::msg("late")).unwrap_err().kind(),
        Some(ErrorCode::AlreadyCalled)
    );
    drop(c);
}

#[test]
fn failures_are_errors_with_sources() {
    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "inner")
        }
    }
    impl std::error::Error for Inner {}
    #[derive(Debug)]
    struct Outer(Inner);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "outer")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let f = Failure::from_error(Outer(Inner));
    assert_eq!(f.message(), "outer");
    assert!(f.downcast_ref::<Outer>().is_some());
    assert!(f.downcast_ref::<Inner>().is_none());
    let src = std::error::Error::source(&f).unwrap();
    assert_eq!(src.to_string(), "inner (rust 3)");
    let f2 = f.clone();
    std::thread::spawn(move || assert_eq!(f2.message(), "outer"))
        .join()
        .unwrap();
    let c = Failure::from_code(ErrorCode::TimedOut);
    assert_eq!(c.kind(), Some(ErrorCode::TimedOut));
    assert_eq!(c.domain(), "dfr");
    assert!(c.describe().contains("timed out"), "{}", c.describe());
    for code in -14..=-1 {
        assert_eq!(ErrorCode::from_code(code).unwrap().code(), code);
    }
}

#[test]
fn awaiting_needs_no_reactor_when_already_fired() {
    // A minimal executor: the future is ready at once.
    let fut = std::future::IntoFuture::into_future(Deferred::succeed(5i64));
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(matches!(
        fut.as_mut().poll(&mut cx),
        std::task::Poll::Ready(Ok(5))
    ));
}

#[test]
fn awaiting_a_fired_deferred_takes_its_result() {
    // The fast path (dfr_deferred_take_result): the result moves into the
    // future, the chain goes on with none, a failure taken is handled.
    let c = counter();
    let d: Deferred<Counted> = Deferred::succeed(Counted(c.clone(), 3));
    let mut f = std::future::IntoFuture::into_future(d.clone());
    match poll_now(&mut f) {
        std::task::Poll::Ready(Ok(v)) => assert_eq!(v.1, 3),
        _ => panic!("not ready"),
    }
    assert_eq!(n(&c), 1, "dropped once, by the future's owner");
    assert_eq!(d.state(), State::Succeeded);
    // SAFETY: the same deferred, whose chain now carries none.
    let rest: Deferred<()> = unsafe { Deferred::from_raw(d.into_raw()) };
    let seen = Rc::new(RefCell::new(false));
    let s2 = seen.clone();
    let _ = rest.add_callback(move |()| {
        *s2.borrow_mut() = true;
        Ok(())
    });
    assert!(*seen.borrow(), "the chain went on with none");

    let d: Deferred<i64> = Deferred::fail(Failure::msg("no"));
    let mut f = std::future::IntoFuture::into_future(d.clone());
    match poll_now(&mut f) {
        std::task::Poll::Ready(Err(e)) => assert_eq!(e.message(), "no"),
        _ => panic!("not the failure"),
    }
    assert_eq!(d.state(), State::Succeeded, "the failure was consumed");

    // A wrong type is a failure, and the value is still dropped once.
    let d: Deferred<Counted> = Deferred::succeed(Counted(c.clone(), 4));
    // SAFETY: the same deferred, typed wrongly on purpose.
    let wrong: Deferred<String> = unsafe { Deferred::from_raw(d.clone().into_raw()) };
    let mut f = std::future::IntoFuture::into_future(wrong);
    match poll_now(&mut f) {
        std::task::Poll::Ready(Err(e)) => assert_eq!(e.code(), deferred::RUST_WRONG_TYPE),
        _ => panic!("not a wrong-type failure"),
    }
    assert_eq!(n(&c), 2);
}

#[test]
fn dropping_a_pending_future_cancels() {
    let c = counter();
    let k = Counted(c.clone(), 0);
    let d: Deferred<i64> = Deferred::with_canceller(move |_d| drop(k));
    let d2 = d.clone();
    {
        let fut = std::future::IntoFuture::into_future(d);
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(n(&c), 1, "the canceller ran");
    assert_eq!(
        d2.state(),
        State::Succeeded,
        "the future's callback consumed the cancellation"
    );
}

#[test]
fn awaiting_a_deferred_from_inside_its_own_chain() {
    // The deferred has a result but is running its chain: the await's
    // callback runs later, after the current one.
    let d: Deferred<i64> = Deferred::new();
    let d2 = d.clone();
    let fut = Rc::new(RefCell::new(None));
    let f2 = fut.clone();
    let _c = d.clone().add_callback(move |x: i64| {
        *f2.borrow_mut() = Some(std::future::IntoFuture::into_future(d2));
        Ok(x + 1)
    });
    d.callback(1).unwrap();
    let mut f = fut.borrow_mut().take().unwrap();
    assert!(matches!(poll_now(&mut f), std::task::Poll::Ready(Ok(2))));
}

#[test]
fn awaiting_a_paused_deferred_and_dropping_the_future_meanwhile() {
    let c = counter();
    let d: Deferred<Counted> = Deferred::new();
    d.callback(Counted(c.clone(), 7)).unwrap();
    d.pause().unwrap();
    let mut f = std::future::IntoFuture::into_future(d.clone());
    assert!(poll_now(&mut f).is_pending());
    d.unpause().unwrap();
    match poll_now(&mut f) {
        std::task::Poll::Ready(Ok(v)) => assert_eq!(v.1, 7),
        _ => panic!("not ready"),
    }
    assert_eq!(n(&c), 1);
    // Dropped while paused: the cancel cannot fire it; the value arrives
    // after the future is gone and is dropped once.
    let d: Deferred<Counted> = Deferred::new();
    d.callback(Counted(c.clone(), 8)).unwrap();
    d.pause().unwrap();
    drop(std::future::IntoFuture::into_future(d.clone()));
    assert_eq!(n(&c), 1);
    d.unpause().unwrap();
    assert_eq!(n(&c), 2);
}

#[test]
fn a_list_made_by_c_reads_as_a_list() {
    use deferred::sys;
    let c = counter();
    // SAFETY: valid deferreds; the C list takes its own references.
    let list: Deferred<deferred::List> = unsafe {
        let ds = [
            sys::dfr_succeed(sys::dfr_i64(4)),
            Deferred::succeed(Counted(c.clone(), 5)).into_raw(),
            Deferred::<i64>::fail(Failure::msg("no")).into_raw(),
        ];
        let l = sys::dfr_deferred_list(ds.as_ptr(), 3, sys::DFR_CONSUME_ERRORS);
        for d in ds {
            sys::dfr_deferred_unref(d);
        }
        Deferred::from_raw(l)
    };
    let _ = list.add_callback(move |mut l: deferred::List| {
        assert_eq!(l.len(), 3);
        assert!(l.ok(0) && l.ok(1) && !l.ok(2));
        assert_eq!(l.take::<i64>(0).unwrap(), 4);
        assert_eq!(l.take::<Counted>(1).unwrap().1, 5);
        assert_eq!(l.take::<i64>(2).unwrap_err().message(), "no");
        assert!(l.take::<i64>(3).is_err());
        Ok(())
    });
    assert_eq!(n(&c), 1);
}
