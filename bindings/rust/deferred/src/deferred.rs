//! `Deferred<T>`: a typed handle to a library deferred.  Each `add_*` moves
//! the handle and returns it typed with the callback's result type: the C
//! engine runs the chain, Rust types describe it.
use crate::failure::{check, Failure};
use crate::value::{drop_box, guard, into_value, result_into_value, take_value, Once};
use deferred_sys as sys;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// `T` invariant, and `!Send + !Sync` (the raw pointer).
type Invariant<T> = (fn(T) -> T, *mut ());

/// Where a deferred is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No result yet (or waiting on another deferred).
    Pending,
    /// Has a result that is not a failure.
    Succeeded,
    /// Has a failure.
    Failed,
}

/// A result that is not there yet, with the chain of callbacks that will
/// process it (Twisted's Deferred).  `T` is the type the next callback
/// receives.  Belongs to the thread that made it (`!Send`); clones are more
/// references to the same deferred.  Dropping the last reference of an
/// unfired deferred frees it and every callback it holds.
pub struct Deferred<T: 'static = ()> {
    ptr: NonNull<sys::dfr_deferred>,
    _t: PhantomData<Invariant<T>>,
}

impl<T: 'static> Clone for Deferred<T> {
    fn clone(&self) -> Self {
        // SAFETY: a valid deferred; ref adds a reference and returns it.
        unsafe { Deferred::from_raw(sys::dfr_deferred_ref(self.as_ptr())) }
    }
}

impl<T: 'static> Drop for Deferred<T> {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { sys::dfr_deferred_unref(self.as_ptr()) }
    }
}

impl<T: 'static> std::fmt::Debug for Deferred<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred")
            .field("ptr", &self.ptr)
            .field("state", &self.state())
            .finish()
    }
}

pub(crate) fn oom<P>(p: *mut P) -> NonNull<P> {
    NonNull::new(p)
        .unwrap_or_else(|| std::alloc::handle_alloc_error(std::alloc::Layout::new::<[usize; 16]>()))
}

impl<T: 'static> Default for Deferred<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The C callback running a one-shot Rust function on either path
/// (add_both's pair, add_timeout_with's onTimeoutCancel): it gets the
/// result as `Ok`/`Err` and gives the next one.
unsafe extern "C" fn run_both<T: 'static, U: 'static, F>(
    v: sys::dfr_value,
    data: *mut c_void,
) -> sys::dfr_value
where
    F: FnOnce(Result<T, Failure>) -> Result<U, Failure>,
{
    // SAFETY: data came from Once::<F>::into_data for this entry.
    let f = unsafe { Once::<F>::take(data) };
    result_into_value(guard(move || {
        let f = f.ok_or_else(|| Failure::msg("callback ran twice"))?;
        f(take_value::<T>(v))
    }))
}

impl<T: 'static> Deferred<T> {
    /// A new pending deferred.
    pub fn new() -> Deferred<T> {
        // SAFETY: no arguments; the new reference is ours.
        unsafe { Deferred::from_raw(oom(sys::dfr_deferred_new()).as_ptr()) }
    }

    /// A pending deferred whose `cancel` runs `canceller` (with another
    /// handle to the deferred) first; if that does not fire it, the deferred
    /// fails with `Cancelled`.  The canceller is dropped once the deferred
    /// has a result or is freed.
    pub fn with_canceller<C: FnOnce(Deferred<T>) + 'static>(canceller: C) -> Deferred<T> {
        unsafe extern "C" fn run<T: 'static, F: FnOnce(Deferred<T>)>(
            d: *mut sys::dfr_deferred,
            data: *mut c_void,
        ) {
            // SAFETY: data is the Box<Option<F>> given below, alive until destroy.
            let slot = unsafe { &mut *data.cast::<Option<F>>() };
            if let Some(f) = slot.take() {
                // SAFETY: d is the live deferred being cancelled; take our own reference.
                let h = unsafe { Deferred::<T>::from_raw(sys::dfr_deferred_ref(d)) };
                if let Err(e) = guard(|| {
                    f(h);
                    Ok(())
                }) {
                    // The canceller panicked: the cancel goes on (Cancelled).
                    drop(e);
                }
            }
        }
        let data = Box::into_raw(Box::new(Some(canceller)));
        // SAFETY: data and its destroy hook match; on NULL destroy has run.
        let p = unsafe {
            sys::dfr_deferred_new_cancellable(
                Some(run::<T, C>),
                data.cast(),
                Some(drop_box::<Option<C>>),
            )
        };
        // SAFETY: our reference.
        unsafe { Deferred::from_raw(oom(p).as_ptr()) }
    }

    /// A deferred that already has `t`.
    pub fn succeed(t: T) -> Deferred<T> {
        // SAFETY: the value moves in; NULL only on OOM.
        unsafe { Deferred::from_raw(oom(sys::dfr_succeed(into_value(t))).as_ptr()) }
    }

    /// A deferred that already failed with `f`.
    pub fn fail(f: Failure) -> Deferred<T> {
        // SAFETY: the reference moves in; NULL only on OOM.
        unsafe { Deferred::from_raw(oom(sys::dfr_fail(f.into_raw())).as_ptr()) }
    }

    /// Takes over one reference.
    ///
    /// # Safety
    /// `p` is a valid deferred whose reference the caller gives away, used
    /// only on this thread, and its chain produces `T` values (a value of
    /// another type is a `RUST_WRONG_TYPE` failure when read, never UB).
    pub unsafe fn from_raw(p: *mut sys::dfr_deferred) -> Deferred<T> {
        Deferred {
            ptr: NonNull::new(p).expect("non-null deferred"),
            _t: PhantomData,
        }
    }

    /// Gives the reference away.
    pub fn into_raw(self) -> *mut sys::dfr_deferred {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// The borrowed C pointer.
    pub fn as_ptr(&self) -> *mut sys::dfr_deferred {
        self.ptr.as_ptr()
    }

    fn retype<U: 'static>(self) -> Deferred<U> {
        // SAFETY: the same reference, typed for what the chain now produces.
        unsafe { Deferred::from_raw(self.into_raw()) }
    }

    /// Fire with `t`.  `AlreadyCalled` when it already fired.
    pub fn callback(&self, t: T) -> Result<(), Failure> {
        // SAFETY: valid deferred; the value moves in.
        check(unsafe { sys::dfr_deferred_callback(self.as_ptr(), into_value(t)) })
    }

    /// Fire with a failure.
    pub fn errback(&self, f: Failure) -> Result<(), Failure> {
        // SAFETY: valid deferred; the reference moves in.
        check(unsafe { sys::dfr_deferred_errback(self.as_ptr(), f.into_raw()) })
    }

    /// Cancel (no effect once it has a result).
    pub fn cancel(&self) {
        // SAFETY: valid deferred.
        unsafe { sys::dfr_deferred_cancel(self.as_ptr()) }
    }

    /// Pause: no callback runs until the matching `unpause`.
    pub fn pause(&self) -> Result<(), Failure> {
        // SAFETY: valid deferred.
        check(unsafe { sys::dfr_deferred_pause(self.as_ptr()) })
    }

    /// Unpause; `Invalid` without a pause.
    pub fn unpause(&self) -> Result<(), Failure> {
        // SAFETY: valid deferred.
        check(unsafe { sys::dfr_deferred_unpause(self.as_ptr()) })
    }

    /// The current pause count.
    pub fn paused(&self) -> u32 {
        // SAFETY: valid deferred.
        unsafe { sys::dfr_deferred_paused(self.as_ptr()) }.max(0) as u32
    }

    /// Where the chain is.
    pub fn state(&self) -> State {
        // SAFETY: valid deferred.
        match unsafe { sys::dfr_deferred_state(self.as_ptr()) } {
            sys::DFR_SUCCEEDED => State::Succeeded,
            sys::DFR_FAILED => State::Failed,
            _ => State::Pending,
        }
    }

    /// chainDeferred: `other` fires with this chain's result, which goes on
    /// with none.
    pub fn chain(self, other: &Deferred<T>) -> Result<Deferred<()>, Failure> {
        // SAFETY: valid deferreds; the library takes its own reference to other.
        check(unsafe { sys::dfr_deferred_chain(self.as_ptr(), other.as_ptr()) })?;
        Ok(self.retype())
    }

    /// Cancel this deferred after `timeout` unless it fired; the
    /// cancellation then reads `TimedOut`.
    pub fn add_timeout(
        &self,
        reactor: &crate::ReactorRef,
        timeout: std::time::Duration,
    ) -> Result<(), Failure> {
        let r = reactor.raw()?;
        // SAFETY: valid deferred and live reactor on its own thread.
        check(unsafe { sys::dfr_deferred_add_timeout(self.as_ptr(), r, timeout.as_secs_f64()) })
    }

    /// `add_timeout` with Twisted's `onTimeoutCancel`: when the timeout (and
    /// nothing else) cancels this deferred, `f` gets the chain's result at
    /// that point (usually the `Cancelled` failure, or what a canceller or an
    /// earlier errback made of it) and returns the result that goes on.  It
    /// is not called when the deferred fires or is cancelled otherwise.
    pub fn add_timeout_with<F>(
        &self,
        reactor: &crate::ReactorRef,
        timeout: std::time::Duration,
        f: F,
    ) -> Result<(), Failure>
    where
        F: FnOnce(Result<T, Failure>) -> Result<T, Failure> + 'static,
    {
        let r = reactor.raw()?;
        let (data, destroy) = Once::into_data(f);
        // SAFETY: valid deferred and live reactor; data and destroy match
        // (destroy runs once, also when the call is refused).
        check(unsafe {
            sys::dfr_deferred_add_timeout_with(
                self.as_ptr(),
                r,
                timeout.as_secs_f64(),
                Some(run_both::<T, T, F>),
                data,
                destroy,
            )
        })
    }

    fn add_raw(
        &self,
        cb: sys::dfr_callback_fn,
        eb: sys::dfr_callback_fn,
        (data, destroy): (*mut c_void, sys::dfr_destroy_fn),
    ) {
        // SAFETY: data and its destroy hook match (destroy runs once, also on error).
        let rc = unsafe { sys::dfr_deferred_add_callbacks(self.as_ptr(), cb, eb, data, destroy) };
        if rc == sys::DFR_ENOMEM {
            std::alloc::handle_alloc_error(std::alloc::Layout::new::<[usize; 4]>());
        }
        assert_eq!(rc, 0, "dfr_deferred_add_callbacks on a valid deferred");
    }

    /// Add a callback: `f` gets the success value and returns the next
    /// result (an `Err` takes the errback path).  A panic in `f` becomes a
    /// `RUST_PANIC` failure.
    pub fn add_callback<U: 'static, F>(self, f: F) -> Deferred<U>
    where
        F: FnOnce(T) -> Result<U, Failure> + 'static,
    {
        unsafe extern "C" fn cb<T: 'static, U: 'static, F: FnOnce(T) -> Result<U, Failure>>(
            v: sys::dfr_value,
            data: *mut c_void,
        ) -> sys::dfr_value {
            // SAFETY: data came from Once::<F>::into_data for this pair.
            let f = unsafe { Once::<F>::take(data) };
            result_into_value(guard(move || {
                let f = f.ok_or_else(|| Failure::msg("callback ran twice"))?;
                f(take_value::<T>(v)?)
            }))
        }
        self.add_raw(Some(cb::<T, U, F>), None, Once::into_data(f));
        self.retype()
    }

    /// Add a callback returning a deferred: the chain waits for it and goes
    /// on with its result.
    pub fn add_callback_deferred<U: 'static, F>(self, f: F) -> Deferred<U>
    where
        F: FnOnce(T) -> Deferred<U> + 'static,
    {
        unsafe extern "C" fn cb<T: 'static, U: 'static, F: FnOnce(T) -> Deferred<U>>(
            v: sys::dfr_value,
            data: *mut c_void,
        ) -> sys::dfr_value {
            // SAFETY: data came from Once::<F>::into_data for this pair.
            let f = unsafe { Once::<F>::take(data) };
            match guard(move || {
                let f = f.ok_or_else(|| Failure::msg("callback ran twice"))?;
                Ok(f(take_value::<T>(v)?))
            }) {
                // The deferred's reference moves into the value.
                Ok(d) => crate::value::raw::deferred(d.into_raw()),
                Err(e) => result_into_value::<()>(Err(e)),
            }
        }
        self.add_raw(Some(cb::<T, U, F>), None, Once::into_data(f));
        self.retype()
    }

    /// Add an errback: `f` gets the failure; `Ok` goes back to the callback
    /// path, `Err` stays on the errback path.  Successes pass through, so
    /// the result type stays `T`.
    pub fn add_errback<F>(self, f: F) -> Deferred<T>
    where
        F: FnOnce(Failure) -> Result<T, Failure> + 'static,
    {
        unsafe extern "C" fn eb<T: 'static, F: FnOnce(Failure) -> Result<T, Failure>>(
            v: sys::dfr_value,
            data: *mut c_void,
        ) -> sys::dfr_value {
            // SAFETY: data came from Once::<F>::into_data for this pair.
            let f = unsafe { Once::<F>::take(data) };
            result_into_value(guard(move || {
                // SAFETY: the errback path only carries failure values, whose
                // reference moves to the Failure.
                let failure = unsafe { Failure::from_raw(sys::dfr_failure_from(&v)) };
                let f = f.ok_or_else(|| Failure::msg("errback ran twice"))?;
                f(failure)
            }))
        }
        self.add_raw(None, Some(eb::<T, F>), Once::into_data(f));
        self
    }

    /// Add a function for both paths (addBoth): it gets `Ok(value)` or
    /// `Err(failure)`.
    pub fn add_both<U: 'static, F>(self, f: F) -> Deferred<U>
    where
        F: FnOnce(Result<T, Failure>) -> Result<U, Failure> + 'static,
    {
        let fnp: sys::dfr_callback_fn = Some(run_both::<T, U, F>);
        self.add_raw(fnp, fnp, Once::into_data(f));
        self.retype()
    }

    /// A future for the result; the same as `.await` on the deferred.
    pub fn into_future_local(self) -> DeferredFuture<T> {
        DeferredFuture::new(self)
    }
}

/// Where an awaited deferred's result goes when it arrives later.
struct Slot<T> {
    result: Cell<Option<Result<T, Failure>>>,
    done: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// A `Slot<T>` without its type, for the per-thread registry.
trait Sink {
    fn deliver(&self, v: sys::dfr_value);
}

impl<T: 'static> Sink for Slot<T> {
    fn deliver(&self, v: sys::dfr_value) {
        self.result.set(Some(convert::<T>(v)));
        self.done.set(true);
        let w = self.waker.borrow_mut().take();
        if let Some(w) = w {
            // wake() only schedules a poll; a panicking waker must not unwind into C.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.wake()));
        }
    }
}

fn convert<T: 'static>(v: sys::dfr_value) -> Result<T, Failure> {
    guard(|| Ok(take_value::<T>(v))).unwrap_or_else(Err)
}

/// The callback pair an await adds (when `dfr_deferred_take_result` could
/// not take the result at once) carries a token, not a pointer: a result
/// that still arrives during `add_callbacks` lands in `sync` (no
/// allocation), and only a deferred that is still pending gets a `Slot` in
/// `pending`.  A token never dangles, so whatever the chain does
/// (run later than expected, never run), nothing reads freed memory.
struct Registry {
    next: Cell<usize>,
    /// Awaits inside `add_callbacks` now (nested ones stack up).
    sync: RefCell<Vec<(usize, Option<sys::dfr_value>)>>,
    pending: RefCell<std::collections::BTreeMap<usize, Rc<dyn Sink>>>,
}

thread_local! {
    static REGISTRY: Registry = const {
        Registry {
            next: Cell::new(0),
            sync: RefCell::new(Vec::new()),
            pending: RefCell::new(std::collections::BTreeMap::new()),
        }
    };
}

enum Outcome {
    Stored,
    Deliver(Rc<dyn Sink>),
    Orphan,
}

unsafe extern "C" fn await_fired(v: sys::dfr_value, data: *mut c_void) -> sys::dfr_value {
    let token = data.addr();
    let outcome = REGISTRY
        .try_with(|r| {
            let mut sync = r.sync.borrow_mut();
            if let Some(e) = sync.iter_mut().rev().find(|e| e.0 == token) {
                e.1 = Some(v);
                return Outcome::Stored;
            }
            drop(sync);
            let sink = r.pending.borrow().get(&token).cloned();
            sink.map_or(Outcome::Orphan, Outcome::Deliver)
        })
        .unwrap_or(Outcome::Orphan);
    match outcome {
        Outcome::Stored => {}
        Outcome::Deliver(sink) => sink.deliver(v),
        // The future is gone (or the thread is exiting): nobody wants v.
        Outcome::Orphan => {
            // SAFETY: we own v.  (A Rust value's drop hook guards itself.)
            unsafe { sys::dfr_value_drop(v) }
        }
    }
    crate::value::raw::none()
}

unsafe extern "C" fn await_done(data: *mut c_void) {
    let token = data.addr();
    let sink = REGISTRY
        .try_with(|r| r.pending.borrow_mut().remove(&token))
        .ok()
        .flatten();
    // An unread result runs T's drop here: it must not unwind into C.
    crate::value::drop_guarded(|| drop(sink));
}

enum Await<T> {
    Ready(Option<Result<T, Failure>>),
    Waiting(Rc<Slot<T>>),
}

/// The future of a `Deferred<T>` (`deferred.await`).
///
/// It adds one callback pair to the chain when made (so the chain goes on
/// with none afterwards).  Dropping it before it completes **cancels** the
/// deferred (the Rust convention: a dropped future stops its work); after
/// completion the drop does nothing.  Wakes only the waker of the latest
/// poll, from the reactor thread, never polls from inside the C callback.
/// Awaiting a deferred that already has its result allocates nothing.
pub struct DeferredFuture<T: 'static> {
    d: Option<Deferred<T>>,
    state: Await<T>,
}

impl<T: 'static> DeferredFuture<T> {
    fn new(d: Deferred<T>) -> Self {
        // The fast path: a result a callback added now would get at once is
        // taken directly (no callback pair, no registry, no allocation).
        let mut v = crate::value::raw::none();
        // SAFETY: a valid deferred on its thread; `v` is a none slot, and
        // the taken value is ours.
        if unsafe { sys::dfr_deferred_take_result(d.as_ptr(), &mut v) } {
            // No C frame below us here: no need to guard against a panic.
            return DeferredFuture {
                d: None,
                state: Await::Ready(Some(take_value::<T>(v))),
            };
        }
        let token = REGISTRY.with(|r| {
            let t = r.next.get().wrapping_add(1);
            r.next.set(t);
            r.sync.borrow_mut().push((t, None));
            t
        });
        let fnp: sys::dfr_callback_fn = Some(await_fired);
        let data = std::ptr::without_provenance_mut(token);
        d.add_raw(fnp, fnp, (data, Some(await_done)));
        let (t, got) = REGISTRY.with(|r| r.sync.borrow_mut().pop().expect("our entry"));
        debug_assert_eq!(t, token);
        match got {
            Some(v) => DeferredFuture {
                d: None,
                state: Await::Ready(Some(convert::<T>(v))),
            },
            None => {
                let slot = Rc::new(Slot {
                    result: Cell::new(None),
                    done: Cell::new(false),
                    waker: RefCell::new(None),
                });
                REGISTRY.with(|r| r.pending.borrow_mut().insert(token, slot.clone()));
                DeferredFuture {
                    d: Some(d),
                    state: Await::Waiting(slot),
                }
            }
        }
    }
}

// The result is only ever moved out, never pinned.
impl<T: 'static> Unpin for DeferredFuture<T> {}

impl<T: 'static> Future for DeferredFuture<T> {
    type Output = Result<T, Failure>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let slot = match &mut this.state {
            Await::Ready(r) => {
                return Poll::Ready(r.take().expect("DeferredFuture polled after completion"))
            }
            Await::Waiting(slot) => slot,
        };
        if slot.done.get() {
            let r = slot
                .result
                .take()
                .expect("DeferredFuture polled after completion");
            this.d = None;
            return Poll::Ready(r);
        }
        let mut w = slot.waker.borrow_mut();
        match &*w {
            Some(old) if old.will_wake(cx.waker()) => {}
            _ => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T: 'static> Drop for DeferredFuture<T> {
    fn drop(&mut self) {
        if let (Some(d), Await::Waiting(slot)) = (self.d.take(), &self.state) {
            if !slot.done.get() {
                d.cancel();
            }
        }
    }
}

impl<T: 'static> IntoFuture for Deferred<T> {
    type Output = Result<T, Failure>;
    type IntoFuture = DeferredFuture<T>;
    fn into_future(self) -> DeferredFuture<T> {
        DeferredFuture::new(self)
    }
}
