//! A hostile program, part two: dropping things in every order (deferreds,
//! lists, reactors — from inside their own callbacks too —, pools from
//! other threads), threads racing a reactor's end, and counts proving that
//! every closure and value is dropped exactly once, on its own thread, on
//! the fired, cancelled, freed-unfired and reactor-freed paths.
mod common;
use common::{failure, pump, success, watch};
use deferred::*;
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::ThreadId;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

/// Counts drops of its tokens, and drops on a thread other than its own.
#[derive(Clone)]
struct Census {
    drops: Arc<AtomicUsize>,
    elsewhere: Arc<AtomicUsize>,
    home: ThreadId,
}

impl Census {
    fn new() -> Census {
        Census {
            drops: Arc::default(),
            elsewhere: Arc::default(),
            home: std::thread::current().id(),
        }
    }
    /// A `!Send` token: it may only ever be dropped at home.
    fn token(&self) -> Token {
        Token(self.clone(), PhantomData)
    }
    /// A `Send` token, for closures that may go to other threads.
    fn send_token(&self) -> SendToken {
        SendToken(self.clone())
    }
    fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }
    #[track_caller]
    fn expect(&self, n: usize) {
        assert_eq!(self.drops(), n, "drops");
        assert_eq!(
            self.elsewhere.load(Ordering::SeqCst),
            0,
            "!Send dropped elsewhere"
        );
    }
    fn dropped(&self, home_only: bool) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if home_only && std::thread::current().id() != self.home {
            self.elsewhere.fetch_add(1, Ordering::SeqCst);
        }
    }
}

struct Token(Census, PhantomData<*const ()>);
impl Drop for Token {
    fn drop(&mut self) {
        self.0.dropped(true);
    }
}

struct SendToken(Census);
impl Drop for SendToken {
    fn drop(&mut self) {
        self.0.dropped(false);
    }
}

fn kind<T>(r: Result<T, Failure>) -> Option<ErrorCode> {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(f) => f.kind(),
    }
}

// ---- Send / Sync: what must stay on its thread does ----------------------

/// Compiles only if `$t` is not `$tr` (two blanket impls make the item
/// ambiguous exactly when the trait holds).
macro_rules! assert_not {
    ($tr:path: $($t:ty),+) => {{
        trait Ambiguous<A> {
            fn some_item() {}
        }
        impl<T: ?Sized> Ambiguous<()> for T {}
        #[allow(dead_code)]
        struct Invalid;
        impl<T: ?Sized + $tr> Ambiguous<Invalid> for T {}
        $(let _ = <$t as Ambiguous<_>>::some_item;)+
    }};
}

#[test]
fn thread_bound_types_are_neither_send_nor_sync() {
    assert_not!(Send: Deferred<i64>, DeferredFuture<i64>, Reactor, ReactorRef, LoopingCall,
        DelayedCall, Lock, Semaphore, Queue<i64>, RawValue, List);
    assert_not!(Sync: Deferred<i64>, DeferredFuture<i64>, Reactor, ReactorRef, LoopingCall,
        DelayedCall, Lock, Semaphore, Queue<i64>, RawValue, List);
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ReactorHandle>();
    send_sync::<ThreadPool>();
    send_sync::<Failure>();
    fn send<T: Send>() {}
    send::<RemoteResult<i64>>();
    assert_not!(Send: RemoteResult<Rc<i64>>);
}

// ---- every path drops every closure and value once -------------------------

#[test]
fn fired_cancelled_and_freed_unfired_chains_drop_everything_once() {
    let c = Census::new();
    // Fired: the callback's closure goes when it ran, its value at the end.
    let d: Deferred<Token> = Deferred::new();
    let t = c.token();
    let out = d.clone().add_callback(move |v: Token| {
        let _t = &t;
        Ok(v)
    });
    d.callback(c.token()).unwrap();
    c.expect(1);
    drop((d, out));
    c.expect(2);
    // Cancelled: the canceller and both closures of a pair.
    let k = c.token();
    let d: Deferred<Token> = Deferred::with_canceller(move |_| drop(k));
    let (t1, t2) = (c.token(), c.token());
    let out = d
        .clone()
        .add_callback(move |v: Token| {
            let _t = &t1;
            Ok(v)
        })
        .add_errback(move |f| {
            let _t = &t2;
            Err(f)
        });
    let seen = watch(&out);
    d.cancel();
    assert!(failure(&seen).is_cancelled());
    c.expect(5);
    drop((d, out));
    // Freed unfired: the canceller and the closures, never run.
    let k = c.token();
    let d: Deferred<Token> = Deferred::with_canceller(move |_| drop(k));
    let t = c.token();
    drop(d.add_both(move |r| {
        let _t = &t;
        r
    }));
    c.expect(7);
    // An await dropped before its result: cancels; after: nothing left.
    let d: Deferred<Token> = Deferred::new();
    let fut = d.clone().into_future_local();
    drop(fut);
    // Cancelled; the await's pair took the failure (the chain goes on with none).
    assert_eq!(d.state(), State::Succeeded);
    drop(d);
    let d: Deferred<Token> = Deferred::new();
    let mut fut = d.clone().into_future_local();
    assert!(common::poll_now(&mut fut).is_pending());
    d.callback(c.token()).unwrap();
    drop(fut); // the result was never read
    c.expect(8);
    drop(d);
    c.expect(8);
}

#[test]
fn lists_and_inputs_dropped_in_either_order() {
    let c = Census::new();
    for list_first in [true, false] {
        for flags in [
            ListFlags::default(),
            ListFlags {
                consume_errors: true,
                ..Default::default()
            },
        ] {
            let ins: Vec<Deferred<Token>> = (0..3)
                .map(|_| {
                    let k = c.token();
                    Deferred::with_canceller(move |_| drop(k))
                })
                .collect();
            let t = c.token();
            let l = deferred_list_with(ins.clone(), flags).add_both(move |r| {
                let _t = &t;
                r.map(|_| ())
            });
            if list_first {
                drop(l);
                drop(ins);
            } else {
                drop(ins);
                drop(l);
            }
        }
    }
    c.expect(16);
    // Fired halfway, then dropped: the values that arrived go too.
    let ins: Vec<Deferred<Token>> = (0..3).map(|_| Deferred::new()).collect();
    let g = gather(ins.clone());
    ins[0].callback(c.token()).unwrap();
    ins[2].callback(c.token()).unwrap();
    drop(g);
    drop(ins);
    c.expect(18);
    // A list cancelled from inside one of its inputs' callbacks.
    let ins: Vec<Deferred<i64>> = (0..3).map(|_| Deferred::new()).collect();
    let l = deferred_list(ins.clone());
    let lc = l.clone();
    let seen = watch(&l);
    drop(l);
    let _ = ins[1].clone().add_callback(move |x| {
        lc.cancel();
        Ok(x)
    });
    ins[1].callback(1).unwrap();
    let all = success(&seen);
    assert_eq!(all.len(), 3);
    assert!(all[0].as_ref().unwrap_err().is_cancelled());
}

#[test]
fn queues_locks_and_semaphores_freed_with_waiters_and_values() {
    let c = Census::new();
    let q: Queue<Token> = Queue::new(None, None);
    q.put(c.token()).unwrap();
    q.put(c.token()).unwrap();
    drop(q);
    c.expect(2);
    let q: Queue<Token> = Queue::new(None, None);
    let get = watch(&q.get());
    drop(q);
    assert!(failure(&get).is_cancelled());
    let l = Lock::new();
    let held = l.acquire().unwrap();
    let t = c.token();
    let waiting = l.run(move || {
        let _t = &t;
        Ok(1i64)
    });
    let w = watch(&waiting);
    drop(l);
    assert!(failure(&w).is_cancelled());
    c.expect(3);
    drop(held);
    let s = Semaphore::new(1).unwrap();
    let a = s.acquire().unwrap();
    let t = c.token();
    let b = watch(&s.run_deferred(move || {
        let _t = &t;
        Deferred::succeed(1i64)
    }));
    drop(s);
    assert!(failure(&b).is_cancelled());
    c.expect(4);
    drop(a);
}

/// Everything a reactor can hold, each with a token (the ones another
/// thread sends, with a `Send` token): returned for the test to inspect.
struct Loaded {
    later: Deferred<i64>,
    task: Deferred<i64>,
    timed: Deferred<i64>,
    lc: LoopingCall,
    lcd: Deferred<()>,
    dc: DelayedCall,
}

fn load(r: &ReactorRef, c: &Census) -> Loaded {
    let t = c.token();
    let dc = r.call_later(SEC, move || drop(t)).unwrap();
    let t = c.token();
    let later: Deferred<i64> = r
        .defer_later(SEC, move || {
            let _t = &t;
            Ok(1)
        })
        .unwrap();
    let t = c.token();
    let later = later.add_both(move |r| {
        let _t = &t;
        r
    });
    let t = c.token();
    let lc = r
        .looping_call(move || {
            let _t = &t;
            Ok(())
        })
        .unwrap();
    let lcd = lc.start(SEC, false).unwrap();
    let t = c.token();
    let rr = r.clone();
    let task: Deferred<i64> = r.spawn_local(async move {
        let _t = t;
        rr.defer_later(SEC * 10, || Ok(())).unwrap().await?;
        Ok(2)
    });
    let timed: Deferred<i64> = Deferred::new();
    let t = c.token();
    timed
        .add_timeout_with(r, SEC * 10, move |x| {
            let _t = &t;
            x
        })
        .unwrap();
    let t = c.token();
    r.add_system_event_trigger(Phase::Before, SystemEvent::Shutdown, move || {
        drop(t);
        None
    })
    .unwrap();
    let h = r.handle();
    let st = c.send_token();
    std::thread::spawn(move || h.call_from_thread(move || drop(st)).unwrap())
        .join()
        .unwrap();
    Loaded {
        later,
        task,
        timed,
        lc,
        lcd,
        dc,
    }
}

const LOADED: usize = 8;
/// Held until their handle or deferred goes, not by the reactor: the
/// looping call's closure and the on-timeout closure.
const HELD: usize = 2;

fn check_after_free(l: Loaded, rr: &ReactorRef) {
    assert_eq!(
        failure(&watch(&l.later)).kind(),
        Some(ErrorCode::NotRunning)
    );
    assert_eq!(failure(&watch(&l.task)).kind(), Some(ErrorCode::NotRunning));
    assert_eq!(failure(&watch(&l.lcd)).kind(), Some(ErrorCode::NotRunning));
    assert_eq!(l.timed.state(), State::Pending, "its timer went, not it");
    l.timed.callback(3).unwrap();
    assert_eq!(kind(l.lc.start(SEC, true)), Some(ErrorCode::NotRunning));
    assert!(!l.lc.running());
    assert_eq!(kind(l.dc.cancel()), Some(ErrorCode::AlreadyCancelled));
    assert!(!l.dc.active());
    assert_eq!(kind(rr.advance(SEC)), Some(ErrorCode::NotRunning));
    assert_eq!(kind(rr.call_later(SEC, || ())), Some(ErrorCode::NotRunning));
    assert_eq!(kind(rr.stop()), Some(ErrorCode::NotRunning));
    assert!(rr.defer_later::<i64, _>(SEC, || Ok(1)).is_err());
    assert!(rr.defer_to_thread(|| 1i64).is_err());
    assert_eq!(
        kind(rr.handle().call_from_thread(|| ())),
        Some(ErrorCode::NotRunning)
    );
    assert_eq!(
        kind(rr.handle().spawn(|_| Deferred::succeed(1i64)).wait()),
        Some(ErrorCode::NotRunning)
    );
}

#[test]
fn a_reactor_freed_with_everything_pending_drops_it_all_once() {
    let c = Census::new();
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    let l = load(&rr, &c);
    drop(r);
    c.expect(LOADED - HELD);
    check_after_free(l, &rr);
    c.expect(LOADED);
}

#[test]
fn a_reactor_dropped_inside_its_own_callback_during_advance() {
    let c = Census::new();
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    let l = load(&rr, &c);
    let cell = Rc::new(RefCell::new(Some(r)));
    let cl = cell.clone();
    rr.call_later(SEC / 2, move || {
        let r = cl.borrow_mut().take();
        drop(r);
    })
    .unwrap();
    rr.advance(SEC / 2).unwrap();
    assert!(cell.borrow().is_none());
    c.expect(LOADED - HELD);
    check_after_free(l, &rr);
    c.expect(LOADED);
}

#[test]
fn a_reactor_dropped_inside_its_own_callback_during_iterate() {
    let c = Census::new();
    let r = Reactor::new().unwrap();
    let rr = r.handle_local();
    let cell = Rc::new(RefCell::new(Some(r)));
    let cl = cell.clone();
    let t = c.token();
    rr.call_later(SEC * 100, move || drop(t)).unwrap();
    rr.call_later(Duration::ZERO, move || {
        let r = cl.borrow_mut().take();
        drop(r);
    })
    .unwrap();
    for _ in 0..100 {
        if cell.borrow().is_none() {
            break;
        }
        rr.iterate(Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    c.expect(1);
    assert_eq!(
        kind(rr.iterate(Duration::ZERO)),
        Some(ErrorCode::NotRunning)
    );
}

#[test]
fn a_reactor_dropped_by_a_destroy_hook_while_its_cell_is_borrowed() {
    // The reactor's free drops a closure whose Drop wants the cell the
    // reactor is being taken out of: a panic in a drop, reported.
    struct TakeOnDrop(Rc<RefCell<Option<Reactor>>>);
    impl Drop for TakeOnDrop {
        fn drop(&mut self) {
            let r = self.0.borrow_mut().take();
            drop(r);
        }
    }
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    let cell = Rc::new(RefCell::new(Some(r)));
    let hook = TakeOnDrop(cell.clone());
    let dc = rr
        .call_later(SEC, move || {
            let _h = &hook;
        })
        .unwrap();
    // Cancelling runs the destroy hook now: it drops the reactor.
    dc.cancel().unwrap();
    assert!(cell.borrow().is_none());
    // Again, the hook running inside the reactor's own free.
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    *cell.borrow_mut() = Some(r);
    let hook = TakeOnDrop(cell.clone());
    rr.call_later(SEC, move || {
        let _h = &hook;
    })
    .unwrap();
    drop(cell.borrow_mut().take()); // borrowed while the hook runs
    assert!(cell.borrow().is_none());
}

#[test]
fn a_reactor_dropped_inside_a_task_and_a_looping_call() {
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    let cell = Rc::new(RefCell::new(Some(r)));
    let cl = cell.clone();
    let r2 = rr.clone();
    let d: Deferred<i64> = rr.spawn_local(async move {
        r2.defer_later(SEC, || Ok(())).unwrap().await?;
        let r = cl.borrow_mut().take();
        drop(r);
        Ok(5)
    });
    let seen = watch(&d);
    rr.advance(SEC).unwrap();
    // The task is woken through the reactor's call queue.
    for _ in 0..1000 {
        if rr.iterate(Duration::ZERO).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(cell.borrow().is_none());
    assert_eq!(success(&seen), 5);
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    *cell.borrow_mut() = Some(r);
    let cl = cell.clone();
    let lc = rr
        .looping_call(move || {
            let r = cl.borrow_mut().take();
            drop(r);
            Ok(())
        })
        .unwrap();
    let lcd = watch(&lc.start(SEC, true).unwrap());
    assert!(cell.borrow().is_none());
    assert_eq!(failure(&lcd).kind(), Some(ErrorCode::NotRunning));
}

#[test]
fn spawning_on_a_dropped_reactor_keeps_nothing_alive() {
    let c = Census::new();
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    drop(r);
    let t = c.token();
    let keep = rr.clone();
    let d: Deferred<i64> = rr.spawn_local(async move {
        let _t = t;
        let _r = keep;
        std::future::pending::<()>().await;
        Ok(1)
    });
    // The future holds a ReactorRef: it must not be kept in the reactor's
    // task table (a cycle) once the reactor is gone.
    let seen = watch(&d);
    drop(d);
    drop(rr);
    c.expect(1);
    assert!(failure(&seen).kind().is_some());
}

// ---- threads -----------------------------------------------------------

#[test]
fn values_made_on_pool_threads_are_dropped_once() {
    let c = Census::new();
    let r = Reactor::new().unwrap();
    // Cancelled while running: the late result is dropped by the pool.
    let gate = Arc::new(Barrier::new(2));
    let g = gate.clone();
    let (st, rt) = (c.send_token(), c.send_token());
    let d: Deferred<SendToken> = r
        .defer_to_thread(move || {
            let _f = st;
            g.wait();
            rt
        })
        .unwrap();
    let seen = watch(&d);
    d.cancel();
    assert!(failure(&seen).is_cancelled());
    gate.wait();
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while c.drops() < 2 && std::time::Instant::now() < until {
        r.iterate(Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    c.expect(2);
    // Delivered: the result crosses to the reactor thread, dropped there.
    let d: Deferred<SendToken> = r
        .defer_to_thread({
            let c = c.clone();
            move || c.send_token()
        })
        .unwrap();
    let seen = watch(&d);
    pump(&r, || seen.borrow().is_some());
    drop(success(&seen));
    c.expect(3);
}

#[test]
fn a_reactor_freed_while_its_work_runs_on_a_pool() {
    let c = Census::new();
    let pool = ThreadPool::new(1, 1, None).unwrap();
    pool.start().unwrap();
    let r = Reactor::new().unwrap();
    let (started, gate) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let (s, g) = (started.clone(), gate.clone());
    let (ft, rt) = (c.send_token(), c.send_token());
    let d: Deferred<SendToken> = r
        .defer_to_threadpool(&pool, move || {
            let _f = ft;
            s.wait();
            g.wait();
            rt
        })
        .unwrap();
    // Not started: never runs, dropped when the pool reaches it.
    let nt = c.send_token();
    let queued: Deferred<i64> = r
        .defer_to_threadpool(&pool, move || {
            let _n = &nt;
            1
        })
        .unwrap();
    let t = c.token();
    let d = d.add_both(move |r| {
        let _t = &t; // !Send: must be dropped here, not on the worker
        r.map(|_| ())
    });
    let seen = watch(&d);
    let q = watch(&queued);
    started.wait();
    drop(r);
    assert_eq!(failure(&seen).kind(), Some(ErrorCode::NotRunning));
    assert_eq!(failure(&q).kind(), Some(ErrorCode::NotRunning));
    gate.wait();
    drop(pool); // runs what is queued (drops it), joins the worker
    c.expect(4);
}

#[test]
fn a_pool_dropped_on_another_thread_with_work_queued() {
    let c = Census::new();
    let r = Reactor::new().unwrap();
    let pool = ThreadPool::new(0, 1, None).unwrap(); // never started
    let st = c.send_token();
    let d: Deferred<i64> = r
        .defer_to_threadpool(&pool, move || {
            let _s = &st;
            1
        })
        .unwrap();
    let seen = watch(&d);
    std::thread::spawn(move || drop(pool)).join().unwrap();
    pump(&r, || seen.borrow().is_some());
    assert_eq!(failure(&seen).kind(), Some(ErrorCode::NotRunning));
    c.expect(1);
}

/// Runs `f` on a thread of its own; fails (instead of hanging the suite)
/// if it takes more than `secs`.
fn within(secs: u64, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let th = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => th.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => th.join().unwrap(),
        Err(_) => panic!("deadlock: still running after {secs} s"),
    }
}

#[test]
fn a_pool_job_waiting_on_the_reactor_while_it_is_freed() {
    within(20, || {
        let r = Reactor::new().unwrap();
        let h = r.handle();
        let started = Arc::new(Barrier::new(2));
        let s = started.clone();
        let d: Deferred<Option<ErrorCode>> = r
            .defer_to_thread(move || {
                s.wait();
                // The reactor is being freed meanwhile: it joins this worker.
                let rem = h.spawn(|_| Deferred::succeed(1i64));
                rem.wait().err().and_then(|f| f.kind())
            })
            .unwrap();
        started.wait();
        let seen = watch(&d);
        drop(r);
        // Delivered during the free (the reactor's own pool), or refused.
        let got = seen.borrow_mut().take();
        if let Some(Ok(k)) = got {
            assert!(k.is_none() || k == Some(ErrorCode::NotRunning), "{k:?}");
        }
    });
}

#[test]
fn other_threads_hammer_a_reactor_while_it_is_freed() {
    // The limit only catches a deadlock (valgrind runs this slowly).
    within(300, || {
        let c = Census::new();
        for _ in 0..10 {
            let r = Reactor::new().unwrap();
            let h = r.handle();
            let stop = Arc::new(AtomicBool::new(false));
            let threads: Vec<_> = (0..3)
                .map(|_| {
                    let (h, stop, c) = (h.clone(), stop.clone(), c.clone());
                    std::thread::spawn(move || {
                        // Bounded (valgrind runs this too); each iterate
                        // runs one batch of a flood and returns.
                        for _ in 0..300 {
                            if stop.load(Ordering::SeqCst) {
                                break;
                            }
                            let t = c.send_token();
                            let _ = h.call_from_thread(move || drop(t));
                            let _ = h.stop();
                            drop(h.spawn(|_| Deferred::succeed(1i64)));
                        }
                    })
                })
                .collect();
            for _ in 0..5 {
                r.iterate(Duration::ZERO).unwrap();
            }
            drop(r);
            stop.store(true, Ordering::SeqCst);
            for t in threads {
                t.join().unwrap();
            }
        }
        assert_eq!(c.elsewhere.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn remote_results_outlive_everything() {
    let r = Reactor::new().unwrap();
    let h = r.handle();
    let a = h.spawn(|rr| rr.defer_later(SEC * 100, || Ok(1i64)).unwrap());
    let b = h.spawn(|_| Deferred::succeed(2i64));
    pump(&r, || true);
    for _ in 0..5 {
        r.iterate(Duration::ZERO).unwrap();
    }
    drop(r);
    // a's deferLater failed with the reactor; b had arrived.
    assert_eq!(kind(a.wait()), Some(ErrorCode::NotRunning));
    assert_eq!(b.wait().unwrap(), 2);
    // Waited for on another thread after everything is gone.
    let r = Reactor::new().unwrap();
    let rem = r.handle().spawn(|_| Deferred::succeed(3i64));
    drop(r);
    let got = std::thread::spawn(move || rem.wait()).join().unwrap();
    assert_eq!(kind(got), Some(ErrorCode::NotRunning));
}

#[test]
fn a_future_dropped_inside_the_callback_that_fires_it() {
    let d: Deferred<i64> = Deferred::new();
    let slot: Rc<RefCell<Option<DeferredFuture<i64>>>> = Default::default();
    let fired = Rc::new(Cell::new(false));
    let (s, f) = (slot.clone(), fired.clone());
    // A callback before the await's pair drops the future: a cancel of a
    // deferred that is running its chain does nothing; the await's result
    // then has no future to go to and is dropped.
    let d2 = d.clone().add_callback(move |x| {
        drop(s.borrow_mut().take());
        f.set(true);
        Ok(x)
    });
    let mut fut = d2.into_future_local();
    assert!(common::poll_now(&mut fut).is_pending());
    *slot.borrow_mut() = Some(fut);
    d.callback(1).unwrap();
    assert!(fired.get());
    assert!(slot.borrow().is_none());
}

#[test]
fn a_future_whose_drop_panics_does_not_stop_the_reactor_s_drop() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("future dropped");
            }
        }
    }
    let c = Census::new();
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    let d: Deferred<i64> = r.spawn_local(async move {
        let _b = Bomb;
        rr.defer_later(SEC, || Ok(())).unwrap().await?;
        Ok(1)
    });
    let t = c.token();
    r.call_later(SEC, move || drop(t)).unwrap();
    let seen = watch(&d);
    drop(r); // the panic is reported; the reactor is still freed
    c.expect(1);
    assert_eq!(failure(&seen).kind(), Some(ErrorCode::NotRunning));
}

#[test]
fn a_reactor_and_its_tasks_in_thread_locals_at_thread_exit() {
    thread_local! {
        static R: RefCell<Option<Reactor>> = const { RefCell::new(None) };
        static D: RefCell<Option<Deferred<i64>>> = const { RefCell::new(None) };
    }
    let c = Census::new();
    let st = c.send_token();
    std::thread::spawn(move || {
        let r = Reactor::manual_clock().unwrap();
        let rr = r.handle_local();
        let d: Deferred<i64> = r.spawn_local(async move {
            let _s = st;
            rr.defer_later(SEC, || Ok(1)).unwrap().await
        });
        // Registered in either order with the crate's own thread locals.
        D.with(|s| *s.borrow_mut() = Some(d));
        R.with(|s| *s.borrow_mut() = Some(r));
    })
    .join()
    .unwrap();
    assert_eq!(c.drops(), 1);
}

#[test]
fn failures_shared_between_threads() {
    let f = Arc::new(
        Failure::msg("inner")
            .wrap(RUST_DOMAIN, RUST_ERROR, "middle")
            .wrap(RUST_DOMAIN, RUST_ERROR, "outer"),
    );
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let c = f.cause().unwrap();
                    assert_eq!(c.message(), "middle");
                    assert_eq!(c.cause().unwrap().message(), "inner");
                    let _ = f.describe();
                    drop(f.as_ref().clone());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn an_unhandled_error_hook_that_makes_more_unhandled_errors() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    set_unhandled_error_hook(Some(Box::new(move |f: &Failure| {
        if f.message() == "hostile hook: first" {
            s.fetch_add(1, Ordering::SeqCst);
            // Another unhandled failure from inside the hook, and the hook
            // replaced from inside itself.
            drop(Deferred::<i64>::fail(Failure::msg("hostile hook: second")));
            let s2 = s.clone();
            set_unhandled_error_hook(Some(Box::new(move |f: &Failure| {
                if f.message().starts_with("hostile hook") {
                    s2.fetch_add(10, Ordering::SeqCst);
                }
            })));
        } else if f.message() == "hostile hook: second" {
            s.fetch_add(100, Ordering::SeqCst);
        }
    })));
    drop(Deferred::<i64>::fail(Failure::msg("hostile hook: first")));
    drop(Deferred::<i64>::fail(Failure::msg("hostile hook: third")));
    set_unhandled_error_hook(None);
    // Each reported once: the second by the old hook (111), or after it
    // returned, by the new one (21: the library defers a report made from
    // inside the hook).
    let n = seen.load(Ordering::SeqCst);
    assert!(n == 111 || n == 21, "{n}");
}

#[test]
fn iterate_with_a_wait_and_nothing_pending_returns() {
    within(20, || {
        let r = Reactor::new().unwrap();
        for _ in 0..20 {
            r.iterate(Duration::from_millis(5)).unwrap();
        }
        let m = Reactor::manual_clock().unwrap();
        m.iterate(Duration::from_millis(5)).unwrap();
    });
}

#[test]
fn a_cancelled_task_whose_future_panics_when_dropped() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("future dropped by cancel");
            }
        }
    }
    let r = Reactor::manual_clock().unwrap();
    let rr = r.handle_local();
    let d: Deferred<i64> = r.spawn_local(async move {
        let _b = Bomb;
        rr.defer_later(SEC, || Ok(())).unwrap().await?;
        Ok(1)
    });
    let seen = watch(&d);
    d.cancel();
    assert!(failure(&seen).is_cancelled());
    // The timer the future awaited went with it.
    assert_eq!(r.pending_calls(), 0);
}

#[test]
fn a_shared_pool_started_and_stopped_by_other_threads_while_work_arrives() {
    let c = Census::new();
    let r = Reactor::new().unwrap();
    let pool = Arc::new(ThreadPool::new(0, 3, Some("toggled")).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let togglers: Vec<_> = (0..2)
        .map(|_| {
            let (p, stop) = (pool.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let _ = p.start();
                    let _ = p.threads();
                    let _ = p.stop();
                }
            })
        })
        .collect();
    let ds: Vec<Deferred<i64>> = (0..100)
        .map(|i| {
            let t = c.send_token();
            r.defer_to_threadpool(&pool, move || {
                let _t = t;
                i
            })
            .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::SeqCst);
    for t in togglers {
        t.join().unwrap();
    }
    let _ = pool.start(); // what is still queued runs now
    let all = watch(&gather(ds));
    pump(&r, || all.borrow().is_some());
    assert_eq!(success(&all), (0..100).collect::<Vec<i64>>());
    drop(pool);
    c.expect(100);
}

#[test]
fn the_same_deferred_twice_in_a_list_and_a_paused_chain_freed() {
    let c = Census::new();
    // i64 goes on as a copy: both entries see it.
    let d: Deferred<i64> = Deferred::new();
    let all = watch(&gather(vec![d.clone(), d.clone()]));
    d.callback(7).unwrap();
    assert_eq!(success(&all), vec![7, 7]);
    // A Rust value cannot be copied: the second entry reads none, a
    // wrong-type failure, never a second owner of the value.
    let d: Deferred<Token> = Deferred::new();
    let all = watch(&deferred_list(vec![d.clone(), d.clone()]));
    d.callback(c.token()).unwrap();
    let got = success(&all);
    assert!(got[0].is_ok());
    assert_eq!(
        got[1].as_ref().err().map(Failure::code),
        Some(RUST_WRONG_TYPE)
    );
    drop(got);
    c.expect(1);
    // Paused inside its own callback, never unpaused, then freed: the rest
    // of the chain and the value go once.
    let d: Deferred<Token> = Deferred::new();
    let me = d.clone();
    let t = c.token();
    drop(
        d.clone()
            .add_callback(move |v: Token| {
                me.pause().unwrap();
                Ok(v)
            })
            .add_callback(move |v: Token| {
                let _t = &t;
                Ok(v)
            }),
    );
    d.callback(c.token()).unwrap();
    assert_eq!(d.paused(), 1);
    drop(d);
    c.expect(3);
}
