//! Reactor, timers, manual clock, async on the reactor thread, threads,
//! lists and sync objects.
mod common;
use common::{counter, n, pump, Counted};
use deferred::{deferred_list, gather, Deferred, ErrorCode, Failure, Reactor, State};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

#[test]
fn call_later_on_the_manual_clock() {
    let r = Reactor::manual_clock().unwrap();
    let hits = Rc::new(Cell::new(0));
    let h = hits.clone();
    let dc = r.call_later(2 * S, move || h.set(h.get() + 1)).unwrap();
    assert!(dc.active());
    assert_eq!(dc.time(), Some(2.0));
    dc.delay(S).unwrap();
    r.advance(2 * S).unwrap();
    assert_eq!(hits.get(), 0);
    r.advance(S).unwrap();
    assert_eq!(hits.get(), 1);
    assert!(!dc.active());
    assert_eq!(dc.cancel().unwrap_err().kind(), Some(ErrorCode::AlreadyRan));
    assert_eq!(r.seconds(), 3.0);
}

#[test]
fn cancelled_and_pending_calls_drop_their_closures_once() {
    let c = counter();
    let r = Reactor::manual_clock().unwrap();
    let k = Counted(c.clone(), 0);
    let dc = r.call_later(S, move || drop(k)).unwrap();
    dc.cancel().unwrap();
    assert_eq!(n(&c), 1, "dropped at cancel");
    assert_eq!(
        dc.cancel().unwrap_err().kind(),
        Some(ErrorCode::AlreadyCancelled)
    );
    let k = Counted(c.clone(), 0);
    let dc2 = r.call_later(S, move || drop(k)).unwrap();
    let k = Counted(c.clone(), 0);
    let later = r
        .defer_later(5 * S, move || {
            let k = k;
            Ok(k.1)
        })
        .unwrap();
    let k = Counted(c.clone(), 0);
    let _chain = later.add_callback(move |x| {
        let k = k; // the whole value, not a copy of a field
        Ok(x + k.1)
    });
    assert_eq!(r.pending_calls(), 2);
    drop(r); // freed with calls pending
    assert!(!dc2.active());
    assert_eq!(
        _chain.state(),
        State::Failed,
        "a pending deferLater fails when its reactor goes"
    );
    let chain = _chain.add_errback(|f| {
        if f.kind() == Some(ErrorCode::NotRunning) {
            Ok(0)
        } else {
            Err(f)
        }
    });
    assert_eq!(chain.state(), State::Succeeded, "it failed with NotRunning");
    drop(chain);
    assert_eq!(n(&c), 4);
}

#[test]
fn reactor_gone_is_an_error_not_a_crash() {
    let r = Reactor::manual_clock().unwrap();
    let weak = r.handle_local();
    let h = r.handle();
    drop(r);
    let e = weak.call_later(S, || ()).unwrap_err();
    assert_eq!(e.kind(), Some(ErrorCode::NotRunning));
    assert_eq!(
        h.call_from_thread(|| ()).unwrap_err().kind(),
        Some(ErrorCode::NotRunning)
    );
    assert!(weak.defer_to_thread(|| 1).is_err());
}

#[test]
fn run_twice_and_advance_on_a_real_clock_fail() {
    let r = Reactor::new().unwrap();
    assert_eq!(r.advance(S).unwrap_err().kind(), Some(ErrorCode::Invalid));
    let h = r.handle();
    r.call_later(Duration::ZERO, move || h.stop().unwrap())
        .unwrap();
    r.run().unwrap();
    assert_eq!(r.run().unwrap_err().kind(), Some(ErrorCode::NotRestartable));
}

#[test]
fn defer_later_and_timeouts() {
    let r = Reactor::manual_clock().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let _a = r
        .defer_later(S, || Ok(String::from("later")))
        .unwrap()
        .add_callback(move |s| {
            g.borrow_mut().push(s);
            Ok(())
        });
    let slow: Deferred<i64> = Deferred::new();
    slow.add_timeout(&r, 2 * S).unwrap();
    let g = got.clone();
    let _b = slow.clone().add_errback(move |f| {
        g.borrow_mut().push(format!("{:?}", f.kind()));
        Ok(0)
    });
    r.advance(S).unwrap();
    r.advance(S).unwrap();
    assert_eq!(
        *got.borrow(),
        vec!["later".to_string(), "Some(TimedOut)".to_string()]
    );
    // Cancelling a deferLater cancels its timer.
    let d = r.defer_later(S, || Ok(1i64)).unwrap();
    assert_eq!(r.pending_calls(), 1);
    let d = d.add_errback(|f| if f.is_cancelled() { Ok(-1) } else { Err(f) });
    d.cancel();
    assert_eq!(r.pending_calls(), 0);
}

#[test]
fn looping_call_ticks_and_stops() {
    let r = Reactor::manual_clock().unwrap();
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let lc = r
        .looping_call(move || {
            t.set(t.get() + 1);
            Ok(())
        })
        .unwrap();
    let done = lc.start(S, true).unwrap();
    assert_eq!(ticks.get(), 1);
    for _ in 0..3 {
        r.advance(S).unwrap();
    }
    assert_eq!(ticks.get(), 4);
    assert!(lc.running());
    lc.stop().unwrap();
    assert_eq!(done.state(), State::Succeeded);
    // A failing (panicking) call stops it with the failure.
    let lc2 = r
        .looping_call(|| -> Result<(), Failure> { panic!("tick failed") })
        .unwrap();
    let d = lc2.start(S, true).unwrap();
    let d = d.add_errback(|f| {
        assert!(f.is_panic());
        Ok(())
    });
    assert_eq!(d.state(), State::Succeeded);
    assert!(!lc2.running());
}

#[test]
fn async_on_the_reactor_thread_reads_like_inline_callbacks() {
    let r = Reactor::manual_clock().unwrap();
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let l = log.clone();
    let rr = r.handle_local();
    let task = r.spawn_local(async move {
        l.borrow_mut().push("first".into());
        let x = Deferred::succeed(1i64).await?;
        l.borrow_mut().push(format!("second got {x}"));
        let y = rr.defer_later(5 * S, || Ok(2i64))?.await?;
        l.borrow_mut().push(format!("third got {y}"));
        let e = rr
            .defer_later(5 * S, || -> Result<i64, Failure> { Err(Failure::msg("3")) })?
            .await;
        l.borrow_mut()
            .push(format!("fourth got {}", e.unwrap_err().message()));
        Ok(x + y)
    });
    assert_eq!(log.borrow().len(), 2, "ran until the first real wait");
    let rr = r.handle_local();
    r.advance(5 * S).unwrap();
    pump(&rr, || log.borrow().len() == 3);
    r.advance(5 * S).unwrap();
    pump(&rr, || task.state() != State::Pending);
    assert_eq!(log.borrow()[3], "fourth got 3");
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    let _ = task.add_callback(move |v| {
        g.set(v);
        Ok(())
    });
    assert_eq!(got.get(), 3);
}

#[test]
fn cancelling_a_task_drops_its_future_and_cancels_what_it_awaits() {
    let c = counter();
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    let k = Counted(c.clone(), 0);
    let task = r.spawn_local(async move {
        let _k = k;
        rr.defer_later(10 * S, || Ok(1i64))?.await
    });
    assert_eq!(r.pending_calls(), 1);
    let task = task.add_errback(|f| if f.is_cancelled() { Ok(-1) } else { Err(f) });
    task.cancel();
    assert_eq!(n(&c), 1, "the future was dropped");
    assert_eq!(r.pending_calls(), 0, "its timer was cancelled");
    assert_eq!(task.state(), State::Succeeded);
}

#[test]
fn reactor_freed_with_tasks_pending_drops_them() {
    let c = counter();
    let r = Reactor::manual_clock().unwrap();
    let k = Counted(c.clone(), 0);
    let k2 = Counted(c.clone(), 0);
    let pending: Deferred<i64> = Deferred::with_canceller(move |_| drop(k2));
    let p2 = pending.clone();
    let _task = r.spawn_local(async move {
        let _k = k;
        p2.await
    });
    drop(r);
    assert_eq!(
        n(&c),
        2,
        "the future was dropped, and cancelled what it awaited"
    );
    // Its cancellation went to the dropped future's callback.
    assert_eq!(pending.state(), State::Succeeded);
}

#[test]
fn defer_to_thread_and_panics_in_the_pool() {
    let r = Reactor::new().unwrap();
    let rr = r.handle_local();
    let main = std::thread::current().id();
    let task = r.spawn_local(async move {
        let (v, tid) = rr
            .defer_to_thread(|| (6 * 7, std::thread::current().id()))?
            .await?;
        assert_ne!(tid, main);
        let e = rr
            .defer_to_thread(|| -> i64 { panic!("pool closure failed") })?
            .await
            .unwrap_err();
        assert!(e.is_panic() && e.message().contains("pool closure failed"));
        Ok(v)
    });
    // Stop on every path (a failed task must not leave run() waiting).
    let rr = r.handle_local();
    let task = task.add_both(move |res| {
        rr.stop()?;
        res
    });
    r.run().unwrap();
    assert_eq!(task.state(), State::Succeeded);
    let _ = task.add_callback(|v: i64| {
        assert_eq!(v, 42);
        Ok(())
    });
}

/// Stops the reactor when the thread using it ends, however it ends (a
/// failed assertion must not leave `run()` waiting).
struct StopOnDrop(deferred::ReactorHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

#[test]
fn other_threads_use_the_handle() {
    let r = Reactor::new().unwrap();
    let h = r.handle();
    assert!(h.is_reactor_thread());
    let t = std::thread::spawn(move || {
        let _stop = StopOnDrop(h.clone());
        assert!(!h.is_reactor_thread());
        let h2 = h.clone();
        h.call_from_thread(move || assert!(h2.is_reactor_thread()))
            .unwrap();
        // Start work on the reactor and wait for it from here.
        let v = h
            .spawn(|r| async move {
                let x = r
                    .defer_later(Duration::from_millis(5), || Ok(20i64))?
                    .await?;
                Ok(x + 1)
            })
            .wait()
            .unwrap();
        let s = h
            .spawn(|_r| Deferred::succeed(String::from("s")))
            .wait()
            .unwrap();
        (v, s)
    });
    r.run().unwrap();
    assert_eq!(t.join().unwrap(), (21, "s".to_string()));
}

#[test]
fn remote_result_is_a_send_future() {
    let r = Reactor::new().unwrap();
    let h = r.handle();
    let t = std::thread::spawn(move || {
        let _stop = StopOnDrop(h.clone());
        let fut = h.spawn(|_r| Deferred::succeed(9i64));
        // A tiny block_on on this thread.
        struct W(std::thread::Thread);
        impl std::task::Wake for W {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.unpark()
            }
        }
        let waker = std::task::Waker::from(std::sync::Arc::new(W(std::thread::current())));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut fut = std::pin::pin!(fut);
        let v = loop {
            match std::future::Future::poll(fut.as_mut(), &mut cx) {
                std::task::Poll::Ready(v) => break v,
                std::task::Poll::Pending => std::thread::park(),
            }
        };
        v.unwrap()
    });
    r.run().unwrap();
    assert_eq!(t.join().unwrap(), 9);
}

#[test]
fn work_sent_to_a_freed_reactor_is_dropped_and_reported() {
    let c = counter();
    let r = Reactor::manual_clock().unwrap();
    let h = r.handle();
    let k = Counted(c.clone(), 0);
    let res = h.spawn(move |_r| {
        let _k = k;
        Deferred::succeed(1i64)
    });
    drop(r);
    assert_eq!(n(&c), 1);
    assert_eq!(res.wait().unwrap_err().kind(), Some(ErrorCode::NotRunning));
}

#[test]
fn lists_and_gather() {
    let a: Deferred<i64> = Deferred::new();
    let b: Deferred<i64> = Deferred::new();
    let list = deferred_list(vec![
        a.clone(),
        b.clone(),
        Deferred::fail(Failure::msg("c")),
    ]);
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let _l = list.add_callback(move |v: Vec<Result<i64, Failure>>| {
        *g.borrow_mut() = Some(
            v.into_iter()
                .map(|r| r.map_err(|f| f.message().into_owned()))
                .collect::<Vec<_>>(),
        );
        Ok(())
    });
    b.callback(2).unwrap();
    a.callback(1).unwrap();
    assert_eq!(
        got.borrow_mut().take().unwrap(),
        vec![Ok(1), Ok(2), Err("c".to_string())]
    );
    let g2 = gather(vec![Deferred::succeed(1i64), Deferred::succeed(2)]);
    let _ = g2.add_callback(|v: Vec<i64>| {
        assert_eq!(v, vec![1, 2]);
        Ok(())
    });
    let g3 = gather(vec![
        Deferred::succeed(1i64),
        Deferred::fail(Failure::msg("second")),
    ]);
    let _ = g3.add_errback(|f| {
        assert_eq!(f.kind(), Some(ErrorCode::FirstError));
        assert_eq!(f.index(), Some(1));
        assert_eq!(f.cause().unwrap().message(), "second");
        Ok(vec![])
    });
    // Empty: fires at once.
    assert_eq!(deferred_list::<i64>(vec![]).state(), State::Succeeded);
}

#[test]
fn lock_semaphore_queue() {
    let c = counter();
    let lock = deferred::Lock::new();
    let first = lock.acquire().unwrap();
    assert_eq!(first.state(), State::Succeeded);
    let second = lock.acquire().unwrap();
    assert_eq!(second.state(), State::Pending);
    assert_eq!(lock.waiting(), 1);
    lock.release().unwrap();
    assert_eq!(second.state(), State::Succeeded);
    lock.release().unwrap();
    assert_eq!(lock.release().unwrap_err().kind(), Some(ErrorCode::Invalid));
    let ran = lock.run(|| Ok(5i64));
    assert_eq!(ran.state(), State::Succeeded);

    let sem = deferred::Semaphore::new(2).unwrap();
    assert!(deferred::Semaphore::new(0).is_err());
    let _a = sem.acquire().unwrap();
    let _b = sem.acquire().unwrap();
    assert_eq!(sem.tokens(), 0);
    let waiting = sem.acquire().unwrap();
    assert_eq!(sem.waiting(), 1);
    drop(sem); // the waiter fails with Cancelled
    let _ = waiting.add_errback(|f| {
        assert!(f.is_cancelled());
        Ok(())
    });

    let q: deferred::Queue<Counted> = deferred::Queue::new(Some(2), None);
    let got = q.get();
    q.put(Counted(c.clone(), 1)).unwrap();
    let _ = got.add_callback(|v: Counted| {
        assert_eq!(v.1, 1);
        Ok(())
    });
    assert_eq!(n(&c), 1);
    q.put(Counted(c.clone(), 2)).unwrap();
    q.put(Counted(c.clone(), 3)).unwrap();
    assert_eq!(
        q.put(Counted(c.clone(), 4)).unwrap_err().kind(),
        Some(ErrorCode::Overflow)
    );
    assert_eq!(n(&c), 2, "the refused value was dropped");
    assert_eq!(q.pending(), 2);
    drop(q);
    assert_eq!(n(&c), 4, "values kept by a freed queue are dropped");
    let q: deferred::Queue<i64> = deferred::Queue::new(None, Some(0));
    let _ = q.get().add_errback(|f| {
        assert_eq!(f.kind(), Some(ErrorCode::Underflow));
        Ok(0)
    });
}

#[test]
fn handles_outliving_the_reactor_are_safe() {
    let c = counter();
    let r = Reactor::manual_clock().unwrap();
    let k = Counted(c.clone(), 0);
    let lc = r
        .looping_call(move || {
            let _ = &k;
            Ok(())
        })
        .unwrap();
    let done = lc.start(S, false).unwrap();
    let dc = r.call_later(S, || ()).unwrap();
    drop(r);
    assert!(!dc.active());
    assert_eq!(
        dc.reset(S).unwrap_err().kind(),
        Some(ErrorCode::AlreadyCancelled)
    );
    assert!(!lc.running());
    assert_eq!(lc.stop().unwrap_err().kind(), Some(ErrorCode::NotRunning));
    // A running LoopingCall's start deferred fails when its reactor goes.
    assert_eq!(done.state(), State::Failed);
    let done = done.add_errback(|f| {
        if f.kind() == Some(ErrorCode::NotRunning) {
            Ok(())
        } else {
            Err(f)
        }
    });
    assert_eq!(done.state(), State::Succeeded);
    drop(lc);
    drop(done);
    assert_eq!(n(&c), 1, "the looping call's closure was dropped once");
}

#[test]
fn system_event_triggers_and_wait_on_the_reactor_thread() {
    use deferred::{Phase, SystemEvent};
    let c = counter();
    let r = Reactor::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    r.add_system_event_trigger(Phase::During, SystemEvent::Startup, move || {
        l.borrow_mut().push("startup");
        None
    })
    .unwrap();
    let l = log.clone();
    let rr = r.handle_local();
    r.add_system_event_trigger(Phase::Before, SystemEvent::Shutdown, move || {
        l.borrow_mut().push("before shutdown");
        // The next phase waits for this deferred.
        let l2 = l.clone();
        Some(
            rr.defer_later(Duration::from_millis(20), move || {
                l2.borrow_mut().push("shutdown work done");
                Ok(())
            })
            .unwrap(),
        )
    })
    .unwrap();
    let l = log.clone();
    r.add_system_event_trigger(Phase::After, SystemEvent::Shutdown, move || {
        l.borrow_mut().push("after shutdown");
        None
    })
    .unwrap();
    let k = Counted(c.clone(), 0);
    let removed = r
        .add_system_event_trigger(Phase::During, SystemEvent::Startup, move || {
            drop(k);
            panic!("removed: never runs")
        })
        .unwrap();
    r.remove_system_event_trigger(removed).unwrap();
    assert_eq!(n(&c), 1, "a removed trigger's closure is dropped");
    assert_eq!(
        r.remove_system_event_trigger(removed).unwrap_err().kind(),
        Some(ErrorCode::Invalid)
    );
    let h = r.handle();
    let waited = Rc::new(RefCell::new(None));
    let w = waited.clone();
    r.call_later(Duration::ZERO, move || {
        // Waiting for reactor work on the reactor thread would deadlock.
        *w.borrow_mut() = Some(h.spawn(|_r| Deferred::succeed(1i64)).wait());
        h.stop().unwrap();
    })
    .unwrap();
    r.run().unwrap();
    let e = waited.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.kind(), Some(ErrorCode::Deadlock));
    assert_eq!(
        *log.borrow(),
        vec![
            "startup",
            "before shutdown",
            "shutdown work done",
            "after shutdown"
        ]
    );
}

#[test]
fn deferreds_outliving_their_reactor_fail_with_not_running() {
    let r = Reactor::manual_clock().unwrap();
    let pending: Deferred<i64> = Deferred::new();
    let p2 = pending.clone();
    let task = r.spawn_local(async move { p2.await });
    let later = r.defer_later(S, || Ok(1i64)).unwrap();
    drop(r); // the task's future goes; its deferred and the deferLater fail
    assert_eq!(later.state(), State::Failed);
    assert_eq!(task.state(), State::Failed);
    task.cancel(); // already failed: nothing to do
    later.cancel();
    let task = task.add_errback(|f| {
        if f.kind() == Some(ErrorCode::NotRunning) {
            Ok(0)
        } else {
            Err(f)
        }
    });
    let later = later.add_errback(|f| {
        if f.kind() == Some(ErrorCode::NotRunning) {
            Ok(0)
        } else {
            Err(f)
        }
    });
    assert_eq!(task.state(), State::Succeeded);
    assert_eq!(later.state(), State::Succeeded);
}

#[test]
fn panics_in_async_tasks_fail_their_deferreds() {
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    let task = r.spawn_local(async move {
        rr.defer_later(S, || Ok(1i64))?.await?;
        panic!("task exploded");
    });
    let task: Deferred<()> = task.add_errback(|f| {
        assert!(f.is_panic() && f.message().contains("task exploded"));
        Ok(())
    });
    r.advance(S).unwrap();
    pump(&r, || task.state() != State::Pending);
    assert_eq!(task.state(), State::Succeeded);
    // The same through the thread-safe handle: in the closure, in the future.
    let h = r.handle();
    let t = std::thread::spawn(move || {
        let a = h.spawn(|_r| -> Deferred<i64> { panic!("closure exploded") });
        let b = h.spawn(|_r| async { panic!("future exploded") as Result<i64, Failure> });
        (a.wait().unwrap_err(), b.wait().unwrap_err())
    });
    let ticks = Rc::new(Cell::new(0));
    while !t.is_finished() {
        // See common::pump: iterate(0) and a sleep.
        r.iterate(Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(1));
        ticks.set(ticks.get() + 1);
        assert!(ticks.get() < 5000);
    }
    let (a, b) = t.join().unwrap();
    assert!(
        a.is_panic() && a.message().contains("closure exploded"),
        "{a}"
    );
    assert!(
        b.is_panic() && b.message().contains("future exploded"),
        "{b}"
    );
}

#[test]
fn a_looping_call_waits_for_the_deferred_its_function_returns() {
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let lc = r
        .looping_call(move || {
            c.set(c.get() + 1);
            // Each call takes 3 s: the 1 s interval is stretched.
            rr.defer_later(3 * S, || Ok(()))
        })
        .unwrap();
    let _done = lc.start(S, true).unwrap();
    assert_eq!(calls.get(), 1);
    for _ in 0..2 {
        r.advance(S).unwrap();
    }
    assert_eq!(
        calls.get(),
        1,
        "still waiting for the first call's deferred"
    );
    r.advance(S).unwrap();
    r.advance(S).unwrap();
    assert_eq!(calls.get(), 2);
    lc.stop().unwrap();
    // The stopped run still waits on the second call's deferLater, which
    // fails with NotRunning when the reactor goes; so does the run.
    let done = _done.add_errback(|f| {
        if f.kind() == Some(ErrorCode::NotRunning) {
            Ok(())
        } else {
            Err(f)
        }
    });
    drop(r);
    assert_eq!(done.state(), State::Succeeded);
}

#[test]
fn looping_call_with_count_counts_the_calls_missed() {
    // Twisted's withCount: the call after a slow deferred counts what it missed.
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    let counts = Rc::new(RefCell::new(Vec::new()));
    let c = counts.clone();
    let lc = r
        .looping_call_with_count(move |n| {
            c.borrow_mut().push(n);
            // The first call (at 0.2 s) takes 0.5 s: the calls due at 0.4,
            // 0.6 and 0.8 are missed, the one at 1.0 counts them too.
            let wait = if n == 1 && c.borrow().len() == 1 {
                500
            } else {
                0
            };
            rr.defer_later(Duration::from_millis(wait), || Ok(()))
        })
        .unwrap();
    let _done = lc.start(Duration::from_millis(200), false).unwrap();
    for _ in 0..5 {
        r.advance(Duration::from_millis(200)).unwrap();
    }
    assert_eq!(*counts.borrow(), vec![1, 4]);
    lc.stop().unwrap();
}

#[test]
fn add_timeout_with_replaces_the_timed_out_result() {
    // Twisted's onTimeoutCancel: only a timeout calls it; its result goes on.
    let r = Reactor::manual_clock().unwrap();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let slow: Deferred<String> = Deferred::new();
    slow.add_timeout_with(&r, 10 * S, move |res| {
        c.set(c.get() + 1);
        assert!(res.unwrap_err().is_cancelled());
        Ok(String::from("OVERRIDDEN"))
    })
    .unwrap();
    r.advance(15 * S).unwrap();
    assert_eq!(calls.get(), 1);
    let got = Rc::new(RefCell::new(String::new()));
    let g = got.clone();
    let _ = slow.add_callback(move |s| {
        *g.borrow_mut() = s;
        Ok(())
    });
    assert_eq!(*got.borrow(), "OVERRIDDEN");
    // Fired in time: not called, and the function is dropped.
    let fast: Deferred<String> = Deferred::new();
    let dropped = counter();
    let k = Counted(dropped.clone(), 0);
    let c = calls.clone();
    fast.add_timeout_with(&r, 10 * S, move |res| {
        let _keep = &k;
        c.set(c.get() + 1);
        res
    })
    .unwrap();
    fast.callback(String::from("in time")).unwrap();
    r.advance(15 * S).unwrap();
    assert_eq!(calls.get(), 1);
    drop(fast);
    assert_eq!(n(&dropped), 1);
}
