//! Deferreds crossing between C and Rust, both ways.
use deferred::{Deferred, Reactor, ReactorRef, State};
use deferred_interop_tests as c;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

fn pump(r: &ReactorRef, done: impl Fn() -> bool) {
    for _ in 0..5000 {
        if done() {
            return;
        }
        // iterate(0) and a sleep, not iterate(1 ms): dfr_reactor_iterate with a
        // wait can block for good when its wait timer expires before the poll
        // (seen under valgrind on a loaded machine; reported).
        r.iterate(Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("not done");
}

#[test]
fn a_c_timer_a_c_pool_job_and_a_c_coroutine_awaited_in_rust() {
    let r = Reactor::manual_clock().unwrap();
    let rp = r.as_ptr();
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    let task = r.spawn_local(async move {
        // SAFETY: C deferreds whose references move in; they fire with i64.
        let later: Deferred<i64> = unsafe { Deferred::from_raw(c::interop_c_later(rp, 3.0, 7)) };
        let a = later.await?;
        // SAFETY: as above.
        let pool: Deferred<i64> = unsafe { Deferred::from_raw(c::interop_c_pool(rp, 9)) };
        let b = pool.await?;
        // A C coroutine (awaiting two C timers) awaited in Rust.
        // SAFETY: as above; the coroutine takes the timers' references.
        let sum: Deferred<i64> = unsafe {
            Deferred::from_raw(c::interop_c_await_sum(
                c::interop_c_later(rp, 1.0, 100),
                c::interop_c_later(rp, 2.0, 200),
            ))
        };
        let s = sum.await?;
        g.set(a + b + s);
        Ok(())
    });
    r.advance(Duration::from_secs(3)).unwrap();
    pump(&r, || got.get() != 0 || r.pending_calls() == 2);
    r.advance(Duration::from_secs(1)).unwrap();
    r.advance(Duration::from_secs(1)).unwrap();
    pump(&r, || task.state() != State::Pending);
    assert_eq!(got.get(), 7 + 81 + 300);
}

#[test]
fn rust_deferreds_awaited_by_a_c_coroutine() {
    let a: Deferred<i64> = Deferred::new();
    let b: Deferred<i64> = Deferred::new();
    // SAFETY: the C coroutine takes the references it is given.
    let sum: Deferred<i64> = unsafe {
        Deferred::from_raw(c::interop_c_await_sum(
            a.clone().into_raw(),
            b.clone().into_raw(),
        ))
    };
    assert_eq!(sum.state(), State::Pending);
    a.callback(40).unwrap();
    assert_eq!(sum.state(), State::Pending);
    b.callback(2).unwrap();
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    let _ = sum.add_callback(move |v| {
        g.set(v);
        Ok(())
    });
    assert_eq!(got.get(), 42);
}

#[test]
fn a_rust_deferred_in_a_c_deferred_list_with_c_ones() {
    let r = Reactor::manual_clock().unwrap();
    let mine: Deferred<i64> = Deferred::new();
    let rr = r.handle_local();
    let m = mine.clone();
    let _fire = r.call_later(Duration::from_secs(1), move || {
        m.callback(12).unwrap();
    });
    // SAFETY: the list takes its own reference to `mine`.
    let total: Deferred<i64> =
        unsafe { Deferred::from_raw(c::interop_c_list_sum(rr.as_ptr(), mine.as_ptr())) };
    let out = Rc::new(Cell::new(0));
    let o = out.clone();
    let task = r.spawn_local(async move {
        o.set(total.await?);
        Ok(())
    });
    r.advance(Duration::from_secs(1)).unwrap();
    r.advance(Duration::from_secs(1)).unwrap();
    pump(&rr, || task.state() != State::Pending);
    assert_eq!(out.get(), 12 + 10 + 20);
}

#[test]
fn a_rust_value_through_a_c_list_comes_back_as_the_same_object() {
    struct Big {
        payload: Vec<u8>,
    }
    let value = Box::new(Big {
        payload: vec![7; 100],
    });
    let addr = &*value as *const Big;
    let d = Deferred::succeed(value);
    // SAFETY: the list takes its own reference; its chain hands entry 0 back.
    let back: Deferred<Box<Big>> =
        unsafe { Deferred::from_raw(c::interop_c_list_first(d.as_ptr())) };
    drop(d);
    let same = Rc::new(Cell::new(false));
    let s = same.clone();
    let _ = back.add_callback(move |b: Box<Big>| {
        s.set(std::ptr::eq(&*b, addr) && b.payload.len() == 100);
        Ok(())
    });
    assert!(same.get());
}
