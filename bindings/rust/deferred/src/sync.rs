//! DeferredLock, DeferredSemaphore, DeferredQueue.  Dropping one while
//! deferreds wait on it fails those waiters with `Cancelled`.
use crate::deferred::Deferred;
use crate::failure::{check, ErrorCode, Failure};
use crate::reactor::task;
use crate::value::{guard, into_value, result_into_value, Once};
use crate::RawValue;
use deferred_sys as sys;
use std::ffi::c_void;
use std::marker::PhantomData;

/// A `run` task whose function returns a deferred: the library holds the
/// lock (or token) until that deferred fires, and the run's deferred fires
/// with its result.
unsafe extern "C" fn deferred_task<T: 'static, F: FnOnce() -> Deferred<T>>(
    data: *mut c_void,
) -> sys::dfr_value {
    // SAFETY: data came from Once::<F>::into_data for this task.
    let f = unsafe { Once::<F>::take(data) };
    match guard(move || Ok(f.ok_or_else(|| Failure::msg("ran twice"))?())) {
        // The deferred's reference moves into the value.
        Ok(d) => crate::value::raw::deferred(d.into_raw()),
        Err(e) => result_into_value::<()>(Err(e)),
    }
}

fn unit(p: *mut sys::dfr_deferred) -> Result<Deferred<()>, Failure> {
    if p.is_null() {
        return Err(Failure::from_code(ErrorCode::NoMemory));
    }
    // SAFETY: our reference; it fires with a pointer, turned into ().
    let d: Deferred<RawValue> = unsafe { Deferred::from_raw(p) };
    Ok(d.add_callback(|_| Ok(())))
}

/// DeferredLock.
pub struct Lock {
    l: *mut sys::dfr_lock,
}

impl Lock {
    /// An unlocked lock.
    pub fn new() -> Lock {
        // SAFETY: no arguments; NULL only on OOM.
        let l = unsafe { sys::dfr_lock_new() };
        assert!(!l.is_null(), "out of memory");
        Lock { l }
    }
    /// Fires once the lock is held (at once when free).  Cancelling a
    /// waiting acquire removes it.
    pub fn acquire(&self) -> Result<Deferred<()>, Failure> {
        // SAFETY: our lock.
        unit(unsafe { sys::dfr_lock_acquire(self.l) })
    }
    /// Hand the lock to the next waiter, or unlock; `Invalid` if not locked.
    pub fn release(&self) -> Result<(), Failure> {
        // SAFETY: our lock.
        check(unsafe { sys::dfr_lock_release(self.l) })
    }
    /// Whether it is held.
    pub fn locked(&self) -> bool {
        // SAFETY: our lock.
        unsafe { sys::dfr_lock_locked(self.l) }
    }
    /// Acquires waiting.
    pub fn waiting(&self) -> usize {
        // SAFETY: our lock.
        unsafe { sys::dfr_lock_waiting(self.l) }
    }
    /// Acquire, run `f`, release; fires with `f`'s result.  (For an `f`
    /// returning a deferred, use `run_deferred`.)
    pub fn run<T: 'static, F: FnOnce() -> Result<T, Failure> + 'static>(
        &self,
        f: F,
    ) -> Deferred<T> {
        let (data, destroy) = Once::into_data(f);
        // SAFETY: our lock; data and destroy match.
        let p = unsafe { sys::dfr_lock_run(self.l, Some(task::<T, F>), data, destroy) };
        assert!(!p.is_null(), "out of memory");
        // SAFETY: our reference; the chain produces T values.
        unsafe { Deferred::from_raw(p) }
    }

    /// Acquire, run `f`, and hold the lock until the deferred `f` returns
    /// fires (Twisted's `run` with a function returning a Deferred); fires
    /// with that deferred's result.
    pub fn run_deferred<T: 'static, F: FnOnce() -> Deferred<T> + 'static>(
        &self,
        f: F,
    ) -> Deferred<T> {
        let (data, destroy) = Once::into_data(f);
        // SAFETY: our lock; data and destroy match.
        let p = unsafe { sys::dfr_lock_run(self.l, Some(deferred_task::<T, F>), data, destroy) };
        assert!(!p.is_null(), "out of memory");
        // SAFETY: our reference; the chain produces T values.
        unsafe { Deferred::from_raw(p) }
    }
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: ours; waiters fail with Cancelled.
        unsafe { sys::dfr_lock_free(self.l) }
    }
}

/// DeferredSemaphore.
pub struct Semaphore {
    s: *mut sys::dfr_semaphore,
}

impl Semaphore {
    /// A semaphore with `tokens` (> 0) tokens.
    pub fn new(tokens: u32) -> Result<Semaphore, Failure> {
        // SAFETY: plain argument; NULL for 0 tokens or OOM.
        let s = unsafe { sys::dfr_semaphore_new(tokens) };
        if s.is_null() {
            return Err(Failure::from_code(ErrorCode::Invalid));
        }
        Ok(Semaphore { s })
    }
    /// Fires once a token is taken.
    pub fn acquire(&self) -> Result<Deferred<()>, Failure> {
        // SAFETY: our semaphore.
        unit(unsafe { sys::dfr_semaphore_acquire(self.s) })
    }
    /// Give a token back (to the first waiter); `Invalid` when all are back.
    pub fn release(&self) -> Result<(), Failure> {
        // SAFETY: our semaphore.
        check(unsafe { sys::dfr_semaphore_release(self.s) })
    }
    /// Free tokens.
    pub fn tokens(&self) -> u32 {
        // SAFETY: our semaphore.
        unsafe { sys::dfr_semaphore_tokens(self.s) }
    }
    /// Acquires waiting.
    pub fn waiting(&self) -> usize {
        // SAFETY: our semaphore.
        unsafe { sys::dfr_semaphore_waiting(self.s) }
    }
    /// Acquire, run `f`, release; fires with `f`'s result.  (For an `f`
    /// returning a deferred, use `run_deferred`.)
    pub fn run<T: 'static, F: FnOnce() -> Result<T, Failure> + 'static>(
        &self,
        f: F,
    ) -> Deferred<T> {
        let (data, destroy) = Once::into_data(f);
        // SAFETY: our semaphore; data and destroy match.
        let p = unsafe { sys::dfr_semaphore_run(self.s, Some(task::<T, F>), data, destroy) };
        assert!(!p.is_null(), "out of memory");
        // SAFETY: our reference; the chain produces T values.
        unsafe { Deferred::from_raw(p) }
    }

    /// Take a token, run `f`, and keep the token until the deferred `f`
    /// returns fires (Twisted's `run` with a function returning a
    /// Deferred); fires with that deferred's result.
    pub fn run_deferred<T: 'static, F: FnOnce() -> Deferred<T> + 'static>(
        &self,
        f: F,
    ) -> Deferred<T> {
        let (data, destroy) = Once::into_data(f);
        // SAFETY: our semaphore; data and destroy match.
        let p =
            unsafe { sys::dfr_semaphore_run(self.s, Some(deferred_task::<T, F>), data, destroy) };
        assert!(!p.is_null(), "out of memory");
        // SAFETY: our reference; the chain produces T values.
        unsafe { Deferred::from_raw(p) }
    }
}

impl Drop for Semaphore {
    fn drop(&mut self) {
        // SAFETY: ours; waiters fail with Cancelled.
        unsafe { sys::dfr_semaphore_free(self.s) }
    }
}

/// DeferredQueue of `T`s.
pub struct Queue<T: 'static> {
    q: *mut sys::dfr_queue,
    _t: PhantomData<T>,
}

impl<T: 'static> Queue<T> {
    /// A queue holding at most `size` values and `backlog` waiting gets
    /// (`None`: no limit).
    pub fn new(size: Option<usize>, backlog: Option<usize>) -> Queue<T> {
        let lim = |o: Option<usize>| o.unwrap_or(sys::DFR_UNLIMITED);
        // SAFETY: plain arguments; NULL only on OOM.
        let q = unsafe { sys::dfr_queue_new(lim(size), lim(backlog)) };
        assert!(!q.is_null(), "out of memory");
        Queue { q, _t: PhantomData }
    }
    /// Give `t` to the oldest waiting get, or keep it; `Overflow` when full
    /// (`t` is dropped then).
    pub fn put(&self, t: T) -> Result<(), Failure> {
        // SAFETY: our queue; the value moves in.
        check(unsafe { sys::dfr_queue_put(self.q, into_value(t)) })
    }
    /// Fires with the oldest value; fails with `Underflow` when the backlog
    /// is full.  Cancelling a waiting get removes it.
    pub fn get(&self) -> Deferred<T> {
        // SAFETY: our queue.
        let p = unsafe { sys::dfr_queue_get(self.q) };
        assert!(!p.is_null(), "out of memory");
        // SAFETY: our reference; the queue only holds T values.
        unsafe { Deferred::from_raw(p) }
    }
    /// Values kept.
    pub fn pending(&self) -> usize {
        // SAFETY: our queue.
        unsafe { sys::dfr_queue_pending(self.q) }
    }
    /// Gets waiting.
    pub fn waiting(&self) -> usize {
        // SAFETY: our queue.
        unsafe { sys::dfr_queue_waiting(self.q) }
    }
}

impl<T: 'static> Drop for Queue<T> {
    fn drop(&mut self) {
        // SAFETY: ours; kept values are dropped, waiters fail with Cancelled.
        unsafe { sys::dfr_queue_free(self.q) }
    }
}
