//! The reactor: timers, the manual clock, deferLater, LoopingCall, the thread
//! pool, calls from other threads, and the executor that runs Rust `async`
//! code on the reactor thread.
use crate::deferred::Deferred;
use crate::failure::{check, ErrorCode, Failure};
use crate::value::{drop_box, guard, result_into_value, Once};
use deferred_sys as sys;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_void;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::ThreadId;
use std::time::Duration;

/// How to make a reactor.
#[derive(Debug, Clone, Default)]
pub struct ReactorOptions {
    /// Time moves only by `advance` (Twisted's task.Clock): tests without sleeping.
    pub manual_clock: bool,
    /// Threads the pool keeps (default 0).
    pub threadpool_min: u32,
    /// Most threads of the pool (0: the default, 10).
    pub threadpool_max: u32,
}

type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;
type FailTask = Box<dyn FnOnce(Failure)>;

struct Task {
    fut: RefCell<Option<LocalFuture>>,
    /// Fails the task's deferred when a poll panics or the reactor goes.
    on_panic: Cell<Option<FailTask>>,
    waker: Waker,
    cancelled: Cell<bool>,
}

/// Reactor-thread state; pinned in an `Rc`, addressed by `Remote::local`.
pub(crate) struct Local {
    ptr: Cell<*mut sys::dfr_reactor>,
    remote: Arc<Remote>,
    tasks: RefCell<HashMap<u64, Rc<Task>>>,
    next_task: Cell<u64>,
    /// Itself, for handing out ReactorRefs from calls that only have `&Local`.
    me: std::rc::Weak<Local>,
}

/// What other threads share: the C pointer (nulled, under the write lock,
/// before the reactor is freed) and the address of `Local`.
struct Remote {
    ptr: RwLock<SendPtr<sys::dfr_reactor>>,
    local: SendPtr<Local>,
    owner: ThreadId,
    /// The results `spawn` promised, failed with `NotRunning` when the
    /// reactor goes: its free joins its own pool first, and a worker
    /// waiting for one would otherwise wait for a call that is only
    /// released after that join (a deadlock).
    promised: Mutex<Vec<std::sync::Weak<dyn Promise>>>,
}

/// A `spawn` result that the reactor's end can fail.
trait Promise: Send + Sync {
    fn abandon(&self);
}

impl Remote {
    fn promise(&self, p: std::sync::Weak<dyn Promise>) {
        let mut g = self.promised.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the kept ones now and then (amortised: the list at most
        // doubles between two sweeps).
        if g.len() >= 64 && g.len().is_power_of_two() {
            g.retain(|w| w.strong_count() > 0);
        }
        g.push(p);
    }

    /// The reactor is going: no promised result can come any more.
    fn abandon_all(&self) {
        let all = std::mem::take(&mut *self.promised.lock().unwrap_or_else(|e| e.into_inner()));
        for p in all.iter().filter_map(std::sync::Weak::upgrade) {
            p.abandon();
        }
    }
}

struct SendPtr<P>(*mut P);
// SAFETY: a plain address.  `Remote::ptr` is only passed to the thread-safe
// functions (dfr_reactor_call_from_thread) while the read lock proves the reactor is
// alive; `Remote::local` is only dereferenced by calls running on the
// reactor thread, which exist only while the reactor (and so Local) lives.
unsafe impl<P> Send for SendPtr<P> {}
// SAFETY: as above.
unsafe impl<P> Sync for SendPtr<P> {}

impl Remote {
    /// dfr_reactor_call_from_thread with a Rust closure; `NotRunning` once the
    /// reactor is gone.  The closure is dropped on the reactor thread when
    /// it ran or when the reactor is freed without running it.
    fn call<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<(), Failure> {
        unsafe extern "C" fn run<F: FnOnce()>(data: *mut c_void) {
            // SAFETY: our Box<Option<F>>, alive until its destroy hook.
            let slot = unsafe { &mut *data.cast::<Option<F>>() };
            if let Some(f) = slot.take() {
                let r = guard(|| {
                    f();
                    Ok(())
                });
                if let Err(e) = r {
                    report_lost(&e);
                }
            }
        }
        let g = self.ptr.read().unwrap_or_else(|e| e.into_inner());
        if g.0.is_null() {
            return Err(Failure::from_code(ErrorCode::NotRunning));
        }
        let data = Box::into_raw(Box::new(Some(f)));
        // SAFETY: the read lock keeps the reactor alive; call_from_thread is
        // thread-safe; data and destroy match (destroy runs on error too).
        check(unsafe {
            sys::dfr_reactor_call_from_thread(
                g.0,
                Some(run::<F>),
                data.cast(),
                Some(drop_box::<Option<F>>),
            )
        })
    }
}

/// A panic in a closure with nobody to report to (a timer, a call from
/// another thread): print it, as the library prints unhandled errors.
fn report_lost(f: &Failure) {
    eprintln!("Unhandled error in a reactor call: {f}");
}

struct TaskWaker {
    id: u64,
    scheduled: AtomicBool,
    remote: Arc<Remote>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return; // a poll is already on its way: wakes coalesce
        }
        let me = self.clone();
        let local = SendPtr(self.remote.local.0);
        let _ = self.remote.call(move || {
            me.scheduled.store(false, Ordering::Release);
            let local = local;
            // SAFETY: this runs on the reactor thread while the reactor lives,
            // so Local (which outlives the C reactor) is alive.
            let local = unsafe { &*local.0 };
            local.poll_task(me.id);
        });
    }
}

impl Local {
    fn poll_task(&self, id: u64) {
        let task = match self.tasks.borrow().get(&id) {
            Some(t) => t.clone(),
            None => return,
        };
        let done = {
            let mut slot = match task.fut.try_borrow_mut() {
                Ok(s) => s,
                Err(_) => return, // already being polled (re-entrant wake)
            };
            let Some(fut) = slot.as_mut() else { return };
            let mut cx = Context::from_waker(&task.waker);
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                fut.as_mut().poll(&mut cx).is_ready()
            }));
            let ready = match polled {
                Ok(ready) => ready,
                Err(p) => {
                    // A panic in the task fails its deferred; the future is
                    // dropped (it must not be polled again).
                    let f = slot.take();
                    drop(slot);
                    crate::value::drop_guarded(|| drop(f));
                    if let Some(fail) = task.on_panic.take() {
                        fail(Failure::panic(p));
                    }
                    self.tasks.borrow_mut().remove(&id);
                    return;
                }
            };
            if ready || task.cancelled.get() {
                // Drop the future outside the borrow of the task table.
                let f = slot.take();
                drop(slot);
                crate::value::drop_guarded(|| drop(f));
                if !ready {
                    // Cancelled during this poll (by its deferred's cancel,
                    // which has failed it, or by the reactor's end).
                    if let Some(fail) = task.on_panic.take() {
                        fail(Failure::from_code(ErrorCode::NotRunning));
                    }
                }
                true
            } else {
                false
            }
        };
        if done {
            self.tasks.borrow_mut().remove(&id);
        }
    }

    fn cancel_task(&self, id: u64) {
        let task = match self.tasks.borrow().get(&id) {
            Some(t) => t.clone(),
            None => return,
        };
        task.cancelled.set(true);
        let f = match task.fut.try_borrow_mut() {
            Ok(mut s) => s.take(),
            Err(_) => return, // being polled: dropped right after the poll
        };
        crate::value::drop_guarded(|| drop(f));
        self.tasks.borrow_mut().remove(&id);
    }

    fn clear_tasks(&self) {
        loop {
            let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
            if tasks.is_empty() {
                break;
            }
            for (_, t) in tasks {
                t.cancelled.set(true);
                // One being polled (it dropped the reactor) finishes its
                // poll: poll_task drops it then.
                let Ok(mut slot) = t.fut.try_borrow_mut() else {
                    continue;
                };
                let f = slot.take();
                drop(slot);
                // A panicking drop must not stop the reactor's drop.
                crate::value::drop_guarded(|| drop(f));
                // Its deferred fails as a pending deferLater does: a
                // result nobody could ever give is not left pending.
                if let Some(fail) = t.on_panic.take() {
                    fail(Failure::from_code(ErrorCode::NotRunning));
                }
            }
        }
    }
}

/// A reactor-thread handle to the reactor (cheap to clone, `!Send`).
/// After the `Reactor` is dropped its methods fail with `NotRunning`.
#[derive(Clone)]
pub struct ReactorRef {
    local: Rc<Local>,
}

impl std::fmt::Debug for ReactorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReactorRef")
            .field("ptr", &self.local.ptr.get())
            .finish()
    }
}

/// The reactor: owns the C reactor and frees it when dropped (pending calls
/// and tasks are dropped then).  Dereferences to `ReactorRef`.
pub struct Reactor {
    r: ReactorRef,
}

impl std::ops::Deref for Reactor {
    type Target = ReactorRef;
    fn deref(&self) -> &ReactorRef {
        &self.r
    }
}

impl Reactor {
    /// A reactor with the real clock.
    pub fn new() -> Result<Reactor, Failure> {
        Reactor::with_options(&ReactorOptions::default())
    }

    /// A reactor whose time moves only by `advance`.
    pub fn manual_clock() -> Result<Reactor, Failure> {
        Reactor::with_options(&ReactorOptions {
            manual_clock: true,
            ..Default::default()
        })
    }

    /// A reactor with options.
    pub fn with_options(o: &ReactorOptions) -> Result<Reactor, Failure> {
        crate::check_library_version()?;
        let opts = sys::dfr_reactor_options {
            size: std::mem::size_of::<sys::dfr_reactor_options>(),
            manual_clock: o.manual_clock,
            threadpool_min: o.threadpool_min,
            threadpool_max: o.threadpool_max,
            uv_loop: std::ptr::null_mut(),
        };
        // SAFETY: a complete options struct.
        let p = unsafe { sys::dfr_reactor_new(&opts) };
        if p.is_null() {
            return Err(Failure::from_code(ErrorCode::Invalid));
        }
        let local = Rc::new_cyclic(|w: &std::rc::Weak<Local>| Local {
            ptr: Cell::new(p),
            remote: Arc::new(Remote {
                ptr: RwLock::new(SendPtr(p)),
                local: SendPtr(w.as_ptr().cast_mut()),
                owner: std::thread::current().id(),
                promised: Mutex::new(Vec::new()),
            }),
            tasks: RefCell::new(HashMap::new()),
            next_task: Cell::new(0),
            me: w.clone(),
        });
        Ok(Reactor {
            r: ReactorRef { local },
        })
    }

    /// Run until stopped (startup triggers, the loop, shutdown triggers).
    /// A reactor runs once: `AlreadyCalled` afterwards.
    pub fn run(&self) -> Result<(), Failure> {
        let r = self.raw()?;
        // SAFETY: live reactor on its own thread.
        check(unsafe { sys::dfr_reactor_run(r) })
    }

    /// A clonable reactor-thread handle.
    pub fn handle_local(&self) -> ReactorRef {
        self.r.clone()
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        let local = &self.r.local;
        // Futures first, while the reactor lives: dropping them cancels the
        // deferreds they wait on (timers included).
        local.clear_tasks();
        let p = local.ptr.replace(std::ptr::null_mut());
        {
            let mut g = local.remote.ptr.write().unwrap_or_else(|e| e.into_inner());
            g.0 = std::ptr::null_mut();
        }
        // Nothing can be posted any more (the pointer is NULL): what was
        // promised fails now, before the free joins the pool.
        local.remote.abandon_all();
        // SAFETY: we own the reactor; nobody can reach it any more (Local and
        // Remote hold NULL), so freeing runs the destroy hooks of what is pending.
        unsafe { sys::dfr_reactor_free(p) };
        local.clear_tasks();
    }
}

impl ReactorRef {
    pub(crate) fn raw(&self) -> Result<*mut sys::dfr_reactor, Failure> {
        let p = self.local.ptr.get();
        if p.is_null() {
            Err(Failure::from_code(ErrorCode::NotRunning))
        } else {
            Ok(p)
        }
    }

    /// The C reactor, for C code on this thread (NULL once it is freed).
    pub fn as_ptr(&self) -> *mut sys::dfr_reactor {
        self.local.ptr.get()
    }

    /// The thread-safe handle (`Send + Sync`).
    pub fn handle(&self) -> ReactorHandle {
        ReactorHandle {
            remote: self.local.remote.clone(),
        }
    }

    /// Ask the running reactor to stop.
    pub fn stop(&self) -> Result<(), Failure> {
        // SAFETY: live reactor.
        check(unsafe { sys::dfr_reactor_stop(self.raw()?) })
    }

    /// Whether it is running.
    pub fn running(&self) -> bool {
        // SAFETY: live reactor (or NULL, which reads false).
        unsafe { sys::dfr_reactor_running(self.local.ptr.get()) }
    }

    /// One loop iteration, waiting at most `max_wait`.  (A non-zero wait can
    /// currently block for good in the C library when nothing else is
    /// pending; prefer `Duration::ZERO`.)
    pub fn iterate(&self, max_wait: Duration) -> Result<(), Failure> {
        // SAFETY: live reactor on its thread.
        check(unsafe { sys::dfr_reactor_iterate(self.raw()?, max_wait.as_secs_f64()) })
    }

    /// The clock in seconds.
    pub fn seconds(&self) -> f64 {
        match self.raw() {
            // SAFETY: live reactor.
            Ok(r) => unsafe { sys::dfr_reactor_seconds(r) },
            Err(_) => f64::NAN,
        }
    }

    /// Manual clock only: move time forward and run what became due.
    pub fn advance(&self, by: Duration) -> Result<(), Failure> {
        // SAFETY: live reactor on its thread.
        check(unsafe { sys::dfr_reactor_advance(self.raw()?, by.as_secs_f64()) })
    }

    /// Delayed calls pending.
    pub fn pending_calls(&self) -> usize {
        // SAFETY: live reactor.
        self.raw()
            .map(|r| unsafe { sys::dfr_reactor_pending_calls(r) })
            .unwrap_or(0)
    }

    /// callLater: run `f` after `delay`.  A panic in `f` is reported on
    /// stderr (nobody waits for its result).
    pub fn call_later<F: FnOnce() + 'static>(
        &self,
        delay: Duration,
        f: F,
    ) -> Result<DelayedCall, Failure> {
        unsafe extern "C" fn run<F: FnOnce()>(data: *mut c_void) {
            // SAFETY: our Box<Option<F>>, alive until its destroy hook.
            let slot = unsafe { &mut *data.cast::<Option<F>>() };
            if let Some(f) = slot.take() {
                if let Err(e) = guard(|| {
                    f();
                    Ok(())
                }) {
                    report_lost(&e);
                }
            }
        }
        let r = self.raw()?;
        let data = Box::into_raw(Box::new(Some(f)));
        let mut out = std::ptr::null_mut();
        // SAFETY: live reactor; data and destroy match (destroy runs on error).
        check(unsafe {
            sys::dfr_reactor_call_later(
                r,
                delay.as_secs_f64(),
                Some(run::<F>),
                data.cast(),
                Some(drop_box::<Option<F>>),
                &mut out,
            )
        })?;
        Ok(DelayedCall {
            dc: out,
            _local: std::marker::PhantomData,
        })
    }

    /// deferLater: a deferred firing after `delay` with what `f` returns.
    /// Cancelling it cancels the timer (and drops `f`).
    pub fn defer_later<T: 'static, F>(&self, delay: Duration, f: F) -> Result<Deferred<T>, Failure>
    where
        F: FnOnce() -> Result<T, Failure> + 'static,
    {
        let r = self.raw()?;
        let (data, destroy) = Once::into_data(f);
        // SAFETY: live reactor; data and destroy match (destroy runs on NULL).
        let d = unsafe {
            sys::dfr_reactor_defer_later(r, delay.as_secs_f64(), Some(task::<T, F>), data, destroy)
        };
        if d.is_null() {
            return Err(Failure::from_code(ErrorCode::Invalid));
        }
        // SAFETY: our reference; the chain produces T values.
        Ok(unsafe { Deferred::from_raw(d) })
    }

    /// deferToThread: run `f` on the reactor's thread pool; the deferred
    /// fires on the reactor thread with its result (a panic in `f` gives a
    /// `RUST_PANIC` failure).  `f` is dropped on the reactor thread.
    pub fn defer_to_thread<T, F>(&self, f: F) -> Result<Deferred<T>, Failure>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let r = self.raw()?;
        let (data, destroy) = Once::into_data(f);
        // SAFETY: live reactor; F: Send may run on the pool; destroy matches.
        let d =
            unsafe { sys::dfr_reactor_defer_to_thread(r, Some(pool_task::<T, F>), data, destroy) };
        if d.is_null() {
            return Err(Failure::from_code(ErrorCode::NoMemory));
        }
        // SAFETY: our reference; the chain produces T values.
        Ok(unsafe { Deferred::from_raw(d) })
    }

    /// Run Rust async code on the reactor thread (Twisted's inlineCallbacks):
    /// it runs now until its first `.await` that is not ready, then each time
    /// it is woken.  The returned deferred fires with its output; cancelling
    /// that deferred drops the future (which cancels what it awaits) and
    /// fails it with `Cancelled`.  The future is dropped when the reactor is
    /// (the deferred then fails with `NotRunning`); on a reactor already
    /// dropped it is dropped at once and the deferred fails with `NotRunning`.
    pub fn spawn_local<T, Fut>(&self, fut: Fut) -> Deferred<T>
    where
        T: 'static,
        Fut: IntoFuture<Output = Result<T, Failure>> + 'static,
    {
        let local = &self.local;
        if local.ptr.get().is_null() {
            // The reactor is gone: nothing would ever poll or drop the
            // future (kept in the task table, a future holding a
            // ReactorRef would even keep it alive for good).
            drop(fut);
            return Deferred::fail(Failure::from_code(ErrorCode::NotRunning));
        }
        let id = local.next_task.get();
        local.next_task.set(id + 1);
        // The deferred may outlive the reactor: a cancel then finds no task.
        let weak = Rc::downgrade(local);
        let result: Deferred<T> = Deferred::with_canceller(move |_d| {
            if let Some(local) = weak.upgrade() {
                local.cancel_task(id);
            }
        });
        let out = result.clone();
        let on_panic = result.clone();
        let fut = fut.into_future();
        let wrapped: LocalFuture = Box::pin(async move {
            let r = fut.await;
            let _ = match r {
                Ok(t) => out.callback(t),
                Err(f) => out.errback(f),
            };
        });
        let waker = Waker::from(Arc::new(TaskWaker {
            id,
            scheduled: AtomicBool::new(false),
            remote: local.remote.clone(),
        }));
        let task = Rc::new(Task {
            fut: RefCell::new(Some(wrapped)),
            on_panic: Cell::new(Some(Box::new(move |f| {
                let _ = on_panic.errback(f);
            }))),
            waker,
            cancelled: Cell::new(false),
        });
        local.tasks.borrow_mut().insert(id, task);
        local.poll_task(id);
        result
    }

    /// A LoopingCall of `f`.  `f` returns `Result<(), Failure>`, or a
    /// `Deferred<()>` (or `Result<Deferred<()>, Failure>`): the next call
    /// then waits until it fires.
    pub fn looping_call<F, R>(&self, mut f: F) -> Result<LoopingCall, Failure>
    where
        F: FnMut() -> R + 'static,
        R: Tick,
    {
        unsafe extern "C" fn run<F: FnMut() -> sys::dfr_value>(
            data: *mut c_void,
        ) -> sys::dfr_value {
            // SAFETY: our Box<F>, alive until its destroy hook.
            let f = unsafe { &mut *data.cast::<F>() };
            crate::value::guard_value(f)
        }
        fn make<G: FnMut() -> sys::dfr_value + 'static>(
            r: *mut sys::dfr_reactor,
            g: G,
        ) -> *mut sys::dfr_looping_call {
            let data = Box::into_raw(Box::new(g));
            // SAFETY: live reactor; data and destroy match (destroy runs on NULL).
            unsafe {
                sys::dfr_looping_call_new(r, Some(run::<G>), data.cast(), Some(drop_box::<G>))
            }
        }
        let lc = make(self.raw()?, move || f().into_tick());
        if lc.is_null() {
            return Err(Failure::from_code(ErrorCode::NoMemory));
        }
        Ok(LoopingCall {
            lc,
            _r: self.clone(),
        })
    }

    /// Twisted's `LoopingCall.withCount`: `f` gets how many calls were due
    /// since it last ran — 1 normally, more when intervals passed while its
    /// deferred was pending or the loop ran late, always 1 for interval 0.
    /// As in Twisted, a call less than an interval after the last one (after
    /// `reset`, or a stop and start) is skipped, so `f` never gets 0.
    pub fn looping_call_with_count<F, R>(&self, mut f: F) -> Result<LoopingCall, Failure>
    where
        F: FnMut(u64) -> R + 'static,
        R: Tick,
    {
        let slot = Rc::new(Cell::new(std::ptr::null_mut::<sys::dfr_looping_call>()));
        let seen = slot.clone();
        let lc = self.looping_call(move || {
            // SAFETY: the looping call running this closure is alive.
            f(unsafe { sys::dfr_looping_call_count(seen.get()) })
        })?;
        slot.set(lc.lc);
        // SAFETY: our new looping call, not started, on its reactor's thread.
        check(unsafe { sys::dfr_looping_call_with_count(lc.lc) })?;
        Ok(lc)
    }
}

/// When a system event trigger runs, relative to its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the event.
    Before,
    /// During it.
    During,
    /// After it.
    After,
}

/// A reactor system event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemEvent {
    /// The reactor starts running.
    Startup,
    /// The reactor stops.
    Shutdown,
}

/// The handle of a system event trigger, for `remove_system_event_trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerId(u64);

impl ReactorRef {
    /// addSystemEventTrigger: run `f` in `phase` of `event`; a deferred it
    /// returns delays the next phase until it fires.  Triggers run once.
    pub fn add_system_event_trigger<F>(
        &self,
        phase: Phase,
        event: SystemEvent,
        f: F,
    ) -> Result<TriggerId, Failure>
    where
        F: FnOnce() -> Option<Deferred<()>> + 'static,
    {
        unsafe extern "C" fn run<F: FnOnce() -> Option<Deferred<()>>>(
            data: *mut c_void,
        ) -> sys::dfr_value {
            // SAFETY: data came from Once::<F>::into_data for this trigger.
            let f = unsafe { Once::<F>::take(data) };
            match guard(move || Ok(f.ok_or_else(|| Failure::msg("ran twice"))?())) {
                Ok(Some(d)) => crate::value::raw::deferred(d.into_raw()),
                Ok(None) => crate::value::raw::none(),
                Err(e) => {
                    report_lost(&e);
                    crate::value::raw::none()
                }
            }
        }
        let r = self.raw()?;
        let phase = match phase {
            Phase::Before => sys::DFR_BEFORE,
            Phase::During => sys::DFR_DURING,
            Phase::After => sys::DFR_AFTER,
        };
        let event = match event {
            SystemEvent::Startup => sys::DFR_STARTUP,
            SystemEvent::Shutdown => sys::DFR_SHUTDOWN,
        };
        let (data, destroy) = Once::into_data(f);
        let mut id = 0u64;
        // SAFETY: live reactor on its thread; data and destroy match.
        check(unsafe {
            sys::dfr_reactor_add_system_event_trigger(
                r,
                phase,
                event,
                Some(run::<F>),
                data,
                destroy,
                &mut id,
            )
        })?;
        Ok(TriggerId(id))
    }

    /// Remove a trigger that has not run; `Invalid` for an unknown one.
    pub fn remove_system_event_trigger(&self, id: TriggerId) -> Result<(), Failure> {
        // SAFETY: live reactor on its thread.
        check(unsafe { sys::dfr_reactor_remove_system_event_trigger(self.raw()?, id.0) })
    }
}

/// What a LoopingCall's function may return (sealed).
pub trait Tick: tick::Sealed + 'static {
    #[doc(hidden)]
    fn into_tick(self) -> sys::dfr_value;
}

mod tick {
    pub trait Sealed {}
    impl Sealed for Result<(), crate::Failure> {}
    impl Sealed for crate::Deferred<()> {}
    impl Sealed for Result<crate::Deferred<()>, crate::Failure> {}
}

impl Tick for Result<(), Failure> {
    fn into_tick(self) -> sys::dfr_value {
        result_into_value(self)
    }
}

impl Tick for Deferred<()> {
    fn into_tick(self) -> sys::dfr_value {
        crate::value::raw::deferred(self.into_raw())
    }
}

impl Tick for Result<Deferred<()>, Failure> {
    fn into_tick(self) -> sys::dfr_value {
        match self {
            Ok(d) => d.into_tick(),
            Err(e) => result_into_value::<()>(Err(e)),
        }
    }
}

/// A thread-pool job: runs `F` (boxed as `Once`) on a worker.
pub(crate) unsafe extern "C" fn pool_task<T: Send + 'static, F: FnOnce() -> T>(
    data: *mut c_void,
) -> sys::dfr_value {
    // SAFETY: from Once::<F>::into_data; the worker is its only user until
    // the destroy hook runs (after it, on whichever thread the library says).
    let f = unsafe { Once::<F>::take(data) };
    result_into_value(guard(move || {
        Ok(f.ok_or_else(|| Failure::msg("ran twice"))?())
    }))
}

/// A task callback: `Option<F>` in a box, run once.
pub(crate) unsafe extern "C" fn task<T: 'static, F: FnOnce() -> Result<T, Failure>>(
    data: *mut c_void,
) -> sys::dfr_value {
    // SAFETY: data came from Once::<F>::into_data for this task.
    let f = unsafe { Once::<F>::take(data) };
    result_into_value(guard(move || f.ok_or_else(|| Failure::msg("ran twice"))?()))
}

/// A scheduled call (`call_later`): cancel, reset, delay.
#[derive(Debug)]
pub struct DelayedCall {
    dc: *mut sys::dfr_delayed_call,
    _local: std::marker::PhantomData<*mut ()>,
}

impl DelayedCall {
    /// Cancel; the closure is dropped at once.  `AlreadyCancelled` /
    /// `AlreadyRan` afterwards.
    pub fn cancel(&self) -> Result<(), Failure> {
        // SAFETY: our reference to the handle.
        check(unsafe { sys::dfr_delayed_call_cancel(self.dc) })
    }
    /// Reschedule to `delay` from now.
    pub fn reset(&self, delay: Duration) -> Result<(), Failure> {
        // SAFETY: our reference to the handle.
        check(unsafe { sys::dfr_delayed_call_reset(self.dc, delay.as_secs_f64()) })
    }
    /// Push back by `by`.
    pub fn delay(&self, by: Duration) -> Result<(), Failure> {
        // SAFETY: our reference to the handle.
        check(unsafe { sys::dfr_delayed_call_delay(self.dc, by.as_secs_f64()) })
    }
    /// Still pending.
    pub fn active(&self) -> bool {
        // SAFETY: our reference to the handle.
        unsafe { sys::dfr_delayed_call_active(self.dc) }
    }
    /// When it runs (reactor seconds), while pending.
    pub fn time(&self) -> Option<f64> {
        // SAFETY: our reference to the handle.
        let t = unsafe { sys::dfr_delayed_call_time(self.dc) };
        (!t.is_nan()).then_some(t)
    }
}

impl Drop for DelayedCall {
    fn drop(&mut self) {
        // SAFETY: we own one reference (the call itself stays scheduled).
        unsafe { sys::dfr_delayed_call_unref(self.dc) }
    }
}

/// LoopingCall: calls a closure every interval.  Dropping it stops it.
#[derive(Debug)]
pub struct LoopingCall {
    lc: *mut sys::dfr_looping_call,
    _r: ReactorRef,
}

impl LoopingCall {
    /// Start; the deferred fires when stopped, or fails with the closure's
    /// failure (which stops it).
    pub fn start(&self, interval: Duration, now: bool) -> Result<Deferred<()>, Failure> {
        self._r.raw()?;
        // SAFETY: our looping call on its reactor's thread.
        let d = unsafe { sys::dfr_looping_call_start(self.lc, interval.as_secs_f64(), now) };
        if d.is_null() {
            return Err(Failure::from_code(ErrorCode::Invalid));
        }
        // SAFETY: our reference; it fires with a pointer, turned into ().
        let d: Deferred<crate::RawValue> = unsafe { Deferred::from_raw(d) };
        Ok(d.add_callback(|_| Ok(())))
    }
    /// Stop.
    pub fn stop(&self) -> Result<(), Failure> {
        self._r.raw()?;
        // SAFETY: our looping call.
        check(unsafe { sys::dfr_looping_call_stop(self.lc) })
    }
    /// Restart the interval from now.
    pub fn reset(&self) -> Result<(), Failure> {
        self._r.raw()?;
        // SAFETY: our looping call.
        check(unsafe { sys::dfr_looping_call_reset(self.lc) })
    }
    /// Whether it is running.
    pub fn running(&self) -> bool {
        // SAFETY: our looping call.
        self._r.raw().is_ok() && unsafe { sys::dfr_looping_call_running(self.lc) }
    }
}

impl Drop for LoopingCall {
    fn drop(&mut self) {
        // SAFETY: we own the only handle reference: dropping it stops a
        // running call (its start deferred fires); the library keeps it
        // alive for a timer or deferred still in flight, and frees it after.
        unsafe { sys::dfr_looping_call_unref(self.lc) }
    }
}

/// The `Send + Sync` handle: the only way other threads reach the reactor.
#[derive(Clone)]
pub struct ReactorHandle {
    remote: Arc<Remote>,
}

impl std::fmt::Debug for ReactorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReactorHandle").finish_non_exhaustive()
    }
}

impl ReactorHandle {
    /// Run `f` on the reactor thread soon (FIFO per calling thread).
    /// `NotRunning` once the reactor is gone; a reactor freed before running
    /// it drops `f` unrun.
    pub fn call_from_thread<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<(), Failure> {
        self.remote.call(f)
    }

    /// Ask the reactor to stop (any thread).
    pub fn stop(&self) -> Result<(), Failure> {
        let g = self.remote.ptr.read().unwrap_or_else(|e| e.into_inner());
        if g.0.is_null() {
            return Err(Failure::from_code(ErrorCode::NotRunning));
        }
        // SAFETY: the read lock keeps it alive; stop is thread-safe.
        check(unsafe { sys::dfr_reactor_stop(g.0) })
    }

    /// Whether the calling thread is the reactor's.  (Tracked in Rust: the
    /// thread that made the reactor, which is the one that runs it since a
    /// `Reactor` is `!Send`.)
    pub fn is_reactor_thread(&self) -> bool {
        std::thread::current().id() == self.remote.owner
    }

    /// Start work on the reactor from any thread or runtime: `f` runs on
    /// the reactor thread and returns a deferred (or any future) whose
    /// result comes back through the returned `Send` future, which can also
    /// be waited for with `wait()`.  Dropping it does not cancel the work.
    pub fn spawn<T, F, Fut>(&self, f: F) -> RemoteResult<T>
    where
        T: Send + 'static,
        F: FnOnce(ReactorRef) -> Fut + Send + 'static,
        Fut: IntoFuture<Output = Result<T, Failure>> + 'static,
    {
        let shared = Arc::new(Oneshot {
            state: Mutex::new((None, None, false)),
            cv: Condvar::new(),
        });
        let tx = Sender(shared.clone());
        let weak: std::sync::Weak<Oneshot<T>> = Arc::downgrade(&shared);
        self.remote.promise(weak);
        let local = SendPtr(self.remote.local.0);
        let r = self.remote.call(move || {
            let local = local;
            // SAFETY: on the reactor thread while it lives: Local is alive.
            let local = unsafe { &*local.0 };
            let Some(rc) = local.me.upgrade() else { return };
            let r = ReactorRef { local: rc };
            let fut = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(r.clone())))
            {
                Ok(fut) => fut,
                Err(p) => return tx.send(Err(Failure::panic(p))),
            };
            // A panic in the future fails `d`, which reaches the sender too.
            let d = r.spawn_local(fut);
            drop(d.add_both(move |res| {
                tx.send(res);
                Ok(())
            }));
        });
        if let Err(e) = r {
            let mut g = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            g.0.get_or_insert(Err(e));
        }
        RemoteResult {
            shared,
            owner: self.remote.owner,
        }
    }
}

/// (result, waker of the latest poll, sender gone)
type OneshotState<T> = (Option<Result<T, Failure>>, Option<Waker>, bool);

struct Oneshot<T> {
    state: Mutex<OneshotState<T>>,
    cv: Condvar,
}

struct Sender<T>(Arc<Oneshot<T>>);

impl<T> Sender<T> {
    fn send(self, r: Result<T, Failure>) {
        let mut g = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        if g.2 {
            return; // abandoned (the reactor went): NotRunning was given
        }
        g.0 = Some(r);
        // Drop (below) sees the value and leaves it.
    }
}

impl<T: Send> Promise for Oneshot<T> {
    fn abandon(&self) {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if g.0.is_some() || g.2 {
            return;
        }
        g.0 = Some(Err(Failure::from_code(ErrorCode::NotRunning)));
        g.2 = true;
        let w = g.1.take();
        drop(g);
        self.cv.notify_all();
        if let Some(w) = w {
            // Someone else's waker: its panic must not stop the reactor's drop.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.wake()));
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut g = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        if g.0.is_none() {
            // Dropped unrun: the reactor went away, or the task was dropped.
            g.0 = Some(Err(Failure::from_code(ErrorCode::NotRunning)));
        }
        g.2 = true;
        let w = g.1.take();
        drop(g);
        self.0.cv.notify_all();
        if let Some(w) = w {
            // Dropped by the reactor (a C frame may be below): contain a
            // panicking waker.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.wake()));
        }
    }
}

/// The result of `ReactorHandle::spawn`: a `Send` future, or `wait()`.
pub struct RemoteResult<T> {
    shared: Arc<Oneshot<T>>,
    owner: ThreadId,
}

impl<T> RemoteResult<T> {
    /// Block the calling thread until the result arrives.
    /// On the reactor thread it would wait on itself: `Deadlock` (unless the
    /// result is already there).
    pub fn wait(self) -> Result<T, Failure> {
        let g = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if g.0.is_none() && std::thread::current().id() == self.owner {
            return Err(Failure::from_code(ErrorCode::Deadlock));
        }
        drop(g);
        let mut g = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = g.0.take() {
                return r;
            }
            g = self.shared.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl<T> Future for RemoteResult<T> {
    type Output = Result<T, Failure>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut g = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = g.0.take() {
            return Poll::Ready(r);
        }
        g.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}
