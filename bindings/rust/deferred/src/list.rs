//! DeferredList and gatherResults over typed deferreds.
use crate::deferred::Deferred;
use crate::failure::Failure;
use crate::value::{into_value, take_value};
use deferred_sys as sys;
use std::ffi::c_void;

/// Borrowed pointers: `ds` must stay alive until the library took its own
/// references (the list call), then ours go.
fn raw_list<T: 'static>(ds: &[Deferred<T>]) -> Vec<*mut sys::dfr_deferred> {
    ds.iter().map(Deferred::as_ptr).collect()
}

/// Takes every entry of a list value: (ok, value) pairs.
unsafe extern "C" fn list_entries<T: 'static>(v: sys::dfr_value, _: *mut c_void) -> sys::dfr_value {
    // SAFETY: the callback path of a DeferredList carries its list value,
    // which we own; entries are moved out one by one.
    let out: Vec<Result<T, Failure>> = unsafe {
        let out = take_entries::<T>(sys::dfr_list_from(&v));
        sys::dfr_value_drop(v);
        out
    };
    crate::value::guard_value(move || into_value(out))
}

/// Moves every entry out of a list made by a DeferredList.
///
/// # Safety
/// `l` is a valid list (or NULL: no entries) whose entries we own.
unsafe fn take_entries<T: 'static>(l: *mut sys::dfr_list) -> Vec<Result<T, Failure>> {
    // SAFETY: per the contract; a failed entry holds a failure value whose
    // reference moves to the Failure.
    unsafe {
        let n = sys::dfr_list_len(l);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let ok = sys::dfr_list_ok(l, i);
            let e = sys::dfr_list_take(l, i);
            out.push(if ok {
                take_value::<T>(e)
            } else {
                Err(Failure::from_raw(e.u.ptr.cast()))
            });
        }
        out
    }
}

unsafe extern "C" fn gather_entries<T: 'static>(
    v: sys::dfr_value,
    _: *mut c_void,
) -> sys::dfr_value {
    // SAFETY: gatherResults' callback path carries a list of plain values.
    let out: Result<Vec<T>, Failure> = unsafe {
        let l = sys::dfr_list_from(&v);
        let n = sys::dfr_list_len(l);
        let r = (0..n)
            .map(|i| take_value::<T>(sys::dfr_list_take(l, i)))
            .collect();
        sys::dfr_value_drop(v);
        r
    };
    crate::value::guard_value(move || crate::value::result_into_value(out))
}

/// DeferredList: fires, once every input has a result, with each input's
/// result in input order.  The inputs' failures are consumed (the inputs
/// were moved in, so nobody else could handle them).  Cancelling the list
/// cancels every input (one that reported passes the cancel on to what it
/// now waits on, if anything).
pub fn deferred_list<T: 'static>(ds: Vec<Deferred<T>>) -> Deferred<Vec<Result<T, Failure>>> {
    let raw = raw_list(&ds);
    // SAFETY: valid deferreds; the list takes its own references.
    let p = unsafe { sys::dfr_deferred_list(raw.as_ptr(), raw.len(), sys::DFR_CONSUME_ERRORS) };
    drop(ds);
    // SAFETY: our reference; NULL only on OOM (inputs are valid).
    let d: Deferred<crate::RawValue> = unsafe { Deferred::from_raw(p) };
    add_converter(d, list_entries::<T>)
}

/// Twisted's DeferredList options (`fireOnOneCallback`, `fireOnOneErrback`,
/// `consumeErrors`); all off by default, as in Twisted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListFlags {
    /// Fire with the first success and its input's index
    /// ([`ListResult::First`]); if no input succeeds, fire with every
    /// result as usual.
    pub fire_on_one_callback: bool,
    /// Fail with the first failure, wrapped as a `FirstError`
    /// (`index()` says which input, `source()` is the failure).
    pub fire_on_one_errback: bool,
    /// An input's failure is consumed: the input's own chain goes on with
    /// `()` (none) instead of the failure, so nobody sees it unhandled.
    /// Without it, the chain goes on with the failure, which is reported as
    /// unhandled if nothing handles it there (keep a clone of the input to
    /// add an errback).  (A success goes on as a copy for the C-mapped
    /// types — `i64`, `f64`, `()`, `String`, `Vec<u8>` — and as none for
    /// other Rust values, which the library cannot copy.)
    pub consume_errors: bool,
}

impl ListFlags {
    fn bits(self) -> std::ffi::c_uint {
        let mut f = 0;
        if self.fire_on_one_callback {
            f |= sys::DFR_FIRE_ON_ONE_CALLBACK;
        }
        if self.fire_on_one_errback {
            f |= sys::DFR_FIRE_ON_ONE_ERRBACK;
        }
        if self.consume_errors {
            f |= sys::DFR_CONSUME_ERRORS;
        }
        f as std::ffi::c_uint
    }
}

/// What a [`deferred_list_with`] fires with.
#[derive(Debug)]
pub enum ListResult<T> {
    /// Every input's result, in input order.
    All(Vec<Result<T, Failure>>),
    /// `fire_on_one_callback`: the first success, and which input gave it.
    First {
        /// The input's index in the vector given.
        index: usize,
        /// Its value.
        value: T,
    },
}

/// The converter of `deferred_list_with`: `data` is non-null for
/// fire_on_one_callback (no allocation, no destroy hook).
unsafe extern "C" fn list_result<T: 'static>(
    v: sys::dfr_value,
    data: *mut c_void,
) -> sys::dfr_value {
    // SAFETY: the list's callback path carries its list value, which we own;
    // entries are moved out one by one.  With fire_on_one_callback a success
    // comes as the pair (value, index), both ok; a full list then only
    // holds failures (or nothing), so its first entry is never ok.
    let out: Result<ListResult<T>, Failure> = unsafe {
        let l = sys::dfr_list_from(&v);
        let n = sys::dfr_list_len(l);
        let r = if !data.is_null() && n == 2 && sys::dfr_list_ok(l, 0) {
            let value = take_value::<T>(sys::dfr_list_take(l, 0));
            let index = take_value::<i64>(sys::dfr_list_take(l, 1));
            match (value, index) {
                (Ok(value), Ok(index)) => Ok(ListResult::First {
                    index: index as usize,
                    value,
                }),
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        } else {
            Ok(ListResult::All(take_entries::<T>(l)))
        };
        sys::dfr_value_drop(v);
        r
    };
    crate::value::guard_value(move || crate::value::result_into_value(out))
}

/// DeferredList with Twisted's options: see [`ListFlags`].  The inputs are
/// moved in (the list holds its own references; keep clones to see what
/// their chains go on with).  Cancelling the list cancels every input (one
/// that reported passes the cancel on to what it now waits on, if
/// anything).  An empty vector fires at once with `All(vec![])`.  While you
/// hold the list (or a chain waits on it), it keeps the inputs until it
/// fires, so cancelling it reaches them even if you dropped yours.  Dropping every handle of a list and of inputs that will
/// never fire frees them all, in any order (the C library breaks the
/// cycle; their closures and values are dropped once).
///
/// ```
/// use deferred::{deferred_list_with, Deferred, ListFlags, ListResult};
/// let a: Deferred<i64> = Deferred::new();
/// let l = deferred_list_with(
///     vec![a.clone(), Deferred::succeed(7)],
///     ListFlags { fire_on_one_callback: true, ..Default::default() },
/// );
/// let _ = l.add_callback(|r| {
///     assert!(matches!(r, ListResult::First { index: 1, value: 7 }));
///     Ok(())
/// });
/// ```
pub fn deferred_list_with<T: 'static>(
    ds: Vec<Deferred<T>>,
    flags: ListFlags,
) -> Deferred<ListResult<T>> {
    let raw = raw_list(&ds);
    // SAFETY: valid deferreds and known flags; the list takes its own references.
    let p = unsafe { sys::dfr_deferred_list(raw.as_ptr(), raw.len(), flags.bits()) };
    drop(ds);
    // SAFETY: our reference; NULL only on OOM (inputs and flags are valid).
    let d: Deferred<crate::RawValue> =
        unsafe { Deferred::from_raw(crate::deferred::oom(p).as_ptr()) };
    let data = if flags.fire_on_one_callback {
        std::ptr::NonNull::<u8>::dangling().as_ptr().cast()
    } else {
        std::ptr::null_mut()
    };
    // SAFETY: a callback whose data is a flag (never dereferenced, no
    // destroy); the same reference comes back typed.
    unsafe {
        let rc = sys::dfr_deferred_add_callback(d.as_ptr(), Some(list_result::<T>), data, None);
        assert_eq!(rc, 0, "add_callback on a valid deferred");
        Deferred::from_raw(d.into_raw())
    }
}

/// gatherResults: every input's value, or the first failure wrapped as a
/// `FirstError` (`index()` says which input, `source()` is the failure).
pub fn gather<T: 'static>(ds: Vec<Deferred<T>>) -> Deferred<Vec<T>> {
    let raw = raw_list(&ds);
    // SAFETY: valid deferreds; the list takes its own references.
    let p = unsafe { sys::dfr_gather_results(raw.as_ptr(), raw.len(), true) };
    drop(ds);
    // SAFETY: our reference; NULL only on OOM.
    let d: Deferred<crate::RawValue> = unsafe { Deferred::from_raw(p) };
    add_converter(d, gather_entries::<T>)
}

fn add_converter<U: 'static>(
    d: Deferred<crate::RawValue>,
    f: unsafe extern "C" fn(sys::dfr_value, *mut c_void) -> sys::dfr_value,
) -> Deferred<U> {
    // SAFETY: a callback without data; the same reference comes back typed.
    unsafe {
        let rc = sys::dfr_deferred_add_callback(d.as_ptr(), Some(f), std::ptr::null_mut(), None);
        assert_eq!(rc, 0, "add_callback on a valid deferred");
        Deferred::from_raw(d.into_raw())
    }
}
