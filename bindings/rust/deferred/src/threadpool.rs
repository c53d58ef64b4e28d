//! Thread pools of one's own (Twisted's deferToThreadPool), beside the
//! reactor's pool.
use crate::deferred::Deferred;
use crate::failure::{check, ErrorCode, Failure};
use crate::reactor::{pool_task, ReactorRef};
use crate::value::Once;
use deferred_sys as sys;
use std::ptr::NonNull;

/// A thread pool: at most `max` threads, `min` kept alive once started.
/// It lives independently of reactors (one pool may serve several), and
/// is `Send + Sync`: start, stop and count its threads from any thread.
/// Work queued before [`start`](ThreadPool::start) waits for it.
///
/// Dropping it stops it (the work queued so far runs first), then fails
/// the work never started with `NotRunning` on its reactor; every closure
/// is dropped exactly once.  (Dropped from inside one of its own jobs, the
/// C library cannot free it, and it is kept.)
pub struct ThreadPool {
    p: NonNull<sys::dfr_threadpool>,
}

// SAFETY: thread.h: the pool's functions are thread-safe (start and stop
// may race with each other and with free); free (Drop) takes `&mut self`, so
// no other use of this handle runs at the same time.
unsafe impl Send for ThreadPool {}
// SAFETY: as above: every `&self` method is one of the thread-safe calls.
unsafe impl Sync for ThreadPool {}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("threads", &self.threads())
            .finish()
    }
}

impl ThreadPool {
    /// A stopped pool of at most `max` threads (> 0) keeping `min` (≤ max)
    /// alive once started; `name` names its threads (Linux keeps 15 bytes).
    /// `Invalid` for bad sizes or a name containing NUL.
    pub fn new(min: u32, max: u32, name: Option<&str>) -> Result<ThreadPool, Failure> {
        if max == 0 || min > max {
            return Err(Failure::from_code(ErrorCode::Invalid));
        }
        let name = name
            .map(std::ffi::CString::new)
            .transpose()
            .map_err(|_| Failure::from_code(ErrorCode::Invalid))?;
        let cname = name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr());
        // SAFETY: valid sizes; the name is copied (or NULL).
        let p = unsafe { sys::dfr_threadpool_new(min, max, cname) };
        match NonNull::new(p) {
            Some(p) => Ok(ThreadPool { p }),
            None => Err(Failure::from_code(ErrorCode::NoMemory)),
        }
    }

    /// Start `min` threads (more start on demand).  `AlreadyStarted` when
    /// started; `Deadlock` from one of its own jobs while it stops.
    pub fn start(&self) -> Result<(), Failure> {
        // SAFETY: a live pool; start is thread-safe.
        check(unsafe { sys::dfr_threadpool_start(self.p.as_ptr()) })
    }

    /// Run the work queued so far and join the threads; work queued from
    /// now on waits for the next `start`.  `Deadlock` from one of its own
    /// jobs (it would wait for itself).
    pub fn stop(&self) -> Result<(), Failure> {
        // SAFETY: a live pool; stop is thread-safe.
        check(unsafe { sys::dfr_threadpool_stop(self.p.as_ptr()) })
    }

    /// Threads alive now.
    pub fn threads(&self) -> u32 {
        // SAFETY: a live pool.
        unsafe { sys::dfr_threadpool_threads(self.p.as_ptr()) }
    }

    /// The C pool (borrowed), for C code.
    pub fn as_ptr(&self) -> *mut sys::dfr_threadpool {
        self.p.as_ptr()
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        // SAFETY: we own the pool and nothing uses it after this.
        unsafe { sys::dfr_threadpool_free(self.p.as_ptr()) }
    }
}

impl ReactorRef {
    /// deferToThreadPool: run `f` on `pool`; the deferred fires on the
    /// reactor thread with its result (a panic in `f` gives a `RUST_PANIC`
    /// failure).  On a stopped pool the work waits for its start.
    ///
    /// If the reactor is dropped first, the deferred fails with
    /// `NotRunning`; work not started never runs, and `f` is dropped when
    /// the pool reaches it (a worker, or the pool's stop or drop).  Either
    /// way `f` is dropped exactly once, on whichever thread lets go of it
    /// (hence `F: Send`).
    pub fn defer_to_threadpool<T, F>(&self, pool: &ThreadPool, f: F) -> Result<Deferred<T>, Failure>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let r = self.raw()?;
        let (data, destroy) = Once::into_data(f);
        // SAFETY: live reactor on its thread, live pool; F: Send may run and
        // be dropped on any thread; data and destroy match (destroy runs on NULL).
        let d = unsafe {
            sys::dfr_reactor_defer_to_threadpool(
                r,
                pool.as_ptr(),
                Some(pool_task::<T, F>),
                data,
                destroy,
            )
        };
        if d.is_null() {
            // A started pool that has no thread and cannot make one, or OOM.
            return Err(Failure::from_code(ErrorCode::NoMemory));
        }
        // SAFETY: our reference; the chain produces T values.
        Ok(unsafe { Deferred::from_raw(d) })
    }

    /// Set the maximum size of the reactor's own pool (> 0; `Invalid`
    /// otherwise).
    pub fn suggest_threadpool_size(&self, max: u32) -> Result<(), Failure> {
        if max == 0 {
            return Err(Failure::from_code(ErrorCode::Invalid));
        }
        // SAFETY: live reactor on its thread.
        check(unsafe { sys::dfr_reactor_suggest_threadpool_size(self.raw()?, max) })
    }
}
