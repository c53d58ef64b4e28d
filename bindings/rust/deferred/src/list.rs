//! DeferredList and gatherResults over typed deferreds.
use crate::deferred::Deferred;
use crate::failure::Failure;
use crate::value::{from_value, into_value};
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
        let l = sys::dfr_list_from(&v);
        let n = sys::dfr_list_len(l);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let ok = sys::dfr_list_ok(l, i);
            let e = sys::dfr_list_take(l, i);
            out.push(if ok {
                from_value::<T>(e)
            } else {
                Err(Failure::from_raw(e.u.ptr.cast()))
            });
        }
        sys::dfr_value_drop(v);
        out
    };
    crate::value::guard_value(move || into_value(out))
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
            .map(|i| from_value::<T>(sys::dfr_list_take(l, i)))
            .collect();
        sys::dfr_value_drop(v);
        r
    };
    crate::value::guard_value(move || crate::value::result_into_value(out))
}

/// DeferredList: fires, once every input has a result, with each input's
/// result in input order.  The inputs' failures are consumed (the inputs
/// were moved in, so nobody else could handle them).  Cancelling the list
/// cancels the inputs that have not reported.
pub fn deferred_list<T: 'static>(ds: Vec<Deferred<T>>) -> Deferred<Vec<Result<T, Failure>>> {
    let raw = raw_list(&ds);
    // SAFETY: valid deferreds; the list takes its own references.
    let p = unsafe { sys::dfr_deferred_list(raw.as_ptr(), raw.len(), sys::DFR_CONSUME_ERRORS) };
    drop(ds);
    // SAFETY: our reference; NULL only on OOM (inputs are valid).
    let d: Deferred<crate::RawValue> = unsafe { Deferred::from_raw(p) };
    add_converter(d, list_entries::<T>)
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
