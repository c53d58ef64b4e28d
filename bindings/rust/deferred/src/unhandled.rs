//! Twisted logs a failure nobody handled when its Deferred is garbage
//! collected; the library calls a process-wide hook when the last reference
//! to a deferred holding one goes.  This routes that hook to Rust.
use crate::failure::Failure;
use deferred_sys as sys;
use std::ffi::c_void;
use std::sync::{Arc, Mutex};

/// What [`set_unhandled_error_hook`] takes.
pub type UnhandledErrorHook = Box<dyn Fn(&Failure) + Send + Sync>;

type Hook = Arc<dyn Fn(&Failure) + Send + Sync>;

/// The Rust hook; the C hook is our trampoline while this is `Some`.
static HOOK: Mutex<Option<Hook>> = Mutex::new(None);

unsafe extern "C" fn trampoline(f: *const sys::dfr_failure, _: *mut c_void) {
    // Clone the hook and let the lock go before calling it: the hook may
    // drop deferreds with unhandled failures itself.
    let hook = HOOK.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(hook) = hook else {
        return;
    };
    // SAFETY: f is a valid failure for this call; we take our own reference.
    let failure = unsafe { Failure::from_raw(sys::dfr_failure_ref(f.cast_mut())) };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&failure)));
    if r.is_err() {
        // It must not unwind into C; the failure is still worth seeing.
        eprintln!("Unhandled error in Deferred (the hook panicked): {failure}");
    }
}

/// Calls `hook` with every failure nobody handled, when the last reference
/// to the deferred holding it goes (on that thread; Twisted logs it when the
/// Deferred is collected).  `None` restores the library's default, which
/// prints "Unhandled error in Deferred:" and the failure to stderr.  The
/// hook is process-wide; a panic in it is printed, never unwound into C.
///
/// ```
/// use deferred::{set_unhandled_error_hook, Failure};
/// set_unhandled_error_hook(Some(Box::new(|f: &Failure| {
///     eprintln!("lost: {}", f.describe())
/// })));
/// // ...
/// set_unhandled_error_hook(None);
/// ```
pub fn set_unhandled_error_hook(hook: Option<UnhandledErrorHook>) {
    let mut g = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let on = hook.is_some();
    *g = hook.map(Hook::from);
    // SAFETY: the trampoline takes no data and reads HOOK; None restores
    // the library's default.  Set under the lock, so calls never interleave.
    unsafe {
        sys::dfr_set_unhandled_error_hook(
            if on { Some(trampoline) } else { None },
            std::ptr::null_mut(),
        )
    };
}
