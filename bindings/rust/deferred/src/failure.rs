//! `Failure`: a reference to a library failure (Twisted's Failure) as a Rust
//! error: domain, code, message, the cause chain as `source()`, and an
//! optional Rust error object kept as the failure's payload.
use crate::value;
use deferred_sys as sys;
use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The library's error codes (domain `"dfr"`), as in `include/deferred/common.h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Bad argument (`DFR_EINVAL`).
    Invalid,
    /// Out of memory (`DFR_ENOMEM`).
    NoMemory,
    /// The deferred was already called (`DFR_EALREADY`).
    AlreadyCalled,
    /// Cancelled (`DFR_ECANCELLED`).
    Cancelled,
    /// Timed out (`DFR_ETIMEDOUT`, from `add_timeout`).
    TimedOut,
    /// FirstError of a DeferredList / gather (`DFR_EFIRST`): see `index`, `source`.
    FirstError,
    /// The reactor is not running, or is gone (`DFR_ENOTRUNNING`).
    NotRunning,
    /// Delayed call already cancelled (`DFR_EALREADY_CANCELLED`).
    AlreadyCancelled,
    /// Delayed call already ran (`DFR_EALREADY_RAN`).
    AlreadyRan,
    /// Not inside a coroutine (`DFR_ENOTCORO`).
    NotCoroutine,
    /// Would wait on itself (`DFR_EDEADLK`).
    Deadlock,
    /// Queue full / pause too deep (`DFR_EOVERFLOW`).
    Overflow,
    /// Queue backlog full (`DFR_EUNDERFLOW`).
    Underflow,
    /// Wrong thread (`DFR_ENOTOWNER`).
    NotOwner,
    /// Connection refused, also no Unix socket at that path (`DFR_ECONNREFUSED`).
    ConnectionRefused,
    /// Host or network unreachable (`DFR_EUNREACHABLE`).
    Unreachable,
    /// Host name not found (`DFR_ENOTFOUND`).
    NotFound,
    /// Connection reset by peer (`DFR_ECONNRESET`).
    ConnectionReset,
    /// Connection closed cleanly (`DFR_ECONNDONE`, Twisted's ConnectionDone).
    ConnectionDone,
    /// Connection lost: aborted, the reactor shut down, or an error (`DFR_ECONNLOST`).
    ConnectionLost,
    /// Frame too long or malformed (`DFR_EFRAME`).
    Frame,
    /// Address already in use (`DFR_EADDRINUSE`).
    AddressInUse,
    /// Reactor or looping call already running (`DFR_EALREADY_RUNNING`).
    AlreadyRunning,
    /// Reactor already ran: a reactor runs once (`DFR_ENOTRESTARTABLE`).
    NotRestartable,
    /// Thread pool already started (`DFR_EALREADY_STARTED`).
    AlreadyStarted,
    /// Allocator already in use: set it first (`DFR_EINUSE`).
    InUse,
}

impl ErrorCode {
    const ALL: [(ErrorCode, i32); 26] = [
        (ErrorCode::Invalid, sys::DFR_EINVAL),
        (ErrorCode::NoMemory, sys::DFR_ENOMEM),
        (ErrorCode::AlreadyCalled, sys::DFR_EALREADY),
        (ErrorCode::Cancelled, sys::DFR_ECANCELLED),
        (ErrorCode::TimedOut, sys::DFR_ETIMEDOUT),
        (ErrorCode::FirstError, sys::DFR_EFIRST),
        (ErrorCode::NotRunning, sys::DFR_ENOTRUNNING),
        (ErrorCode::AlreadyCancelled, sys::DFR_EALREADY_CANCELLED),
        (ErrorCode::AlreadyRan, sys::DFR_EALREADY_RAN),
        (ErrorCode::NotCoroutine, sys::DFR_ENOTCORO),
        (ErrorCode::Deadlock, sys::DFR_EDEADLK),
        (ErrorCode::Overflow, sys::DFR_EOVERFLOW),
        (ErrorCode::Underflow, sys::DFR_EUNDERFLOW),
        (ErrorCode::NotOwner, sys::DFR_ENOTOWNER),
        (ErrorCode::ConnectionRefused, sys::DFR_ECONNREFUSED),
        (ErrorCode::Unreachable, sys::DFR_EUNREACHABLE),
        (ErrorCode::NotFound, sys::DFR_ENOTFOUND),
        (ErrorCode::ConnectionReset, sys::DFR_ECONNRESET),
        (ErrorCode::ConnectionDone, sys::DFR_ECONNDONE),
        (ErrorCode::ConnectionLost, sys::DFR_ECONNLOST),
        (ErrorCode::Frame, sys::DFR_EFRAME),
        (ErrorCode::AddressInUse, sys::DFR_EADDRINUSE),
        (ErrorCode::AlreadyRunning, sys::DFR_EALREADY_RUNNING),
        (ErrorCode::NotRestartable, sys::DFR_ENOTRESTARTABLE),
        (ErrorCode::AlreadyStarted, sys::DFR_EALREADY_STARTED),
        (ErrorCode::InUse, sys::DFR_EINUSE),
    ];

    /// The C code (a negative `DFR_E*`).
    pub fn code(self) -> i32 {
        Self::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map(|(_, n)| *n)
            .unwrap()
    }

    /// The variant of a C code; `None` for 0 and unknown codes.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        Self::ALL.iter().find(|(_, n)| *n == code).map(|(c, _)| *c)
    }
}

/// The failure domain of the library's own codes.
pub const DFR_DOMAIN: &CStr = c"dfr";
/// The failure domain of failures made by this crate.
pub const RUST_DOMAIN: &CStr = c"rust";
/// Code (domain `"rust"`): a Rust callback or closure panicked.
pub const RUST_PANIC: i32 = 1;
/// Code (domain `"rust"`): a value had another type than the one expected.
pub const RUST_WRONG_TYPE: i32 = 2;
/// Code (domain `"rust"`): a Rust error (`Failure::from_error`, `Failure::msg`).
pub const RUST_ERROR: i32 = 3;

/// A failure: refcounted and immutable, so `Clone + Send + Sync`.
pub struct Failure {
    ptr: NonNull<sys::dfr_failure>,
    /// The cause as a `Failure`, made on first use (`source()` hands out a
    /// reference); NULL until then.  Keeps `Failure` two words.
    cause: AtomicPtr<Failure>,
}

// SAFETY: library failures are immutable after creation, their refcount is
// atomic ("any thread"), and the only payload this crate attaches is a
// `Box<dyn Error + Send + Sync>`.
unsafe impl Send for Failure {}
// SAFETY: as above; every accessor only reads.
unsafe impl Sync for Failure {}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).expect("no NUL left")
}

fn nonnull_or_oom(p: *mut sys::dfr_failure) -> NonNull<sys::dfr_failure> {
    // Rust's own convention for a failed allocation.
    NonNull::new(p)
        .unwrap_or_else(|| std::alloc::handle_alloc_error(std::alloc::Layout::new::<[usize; 8]>()))
}

impl Failure {
    /// A failure of `domain` (a static C string, as the library keeps it) and
    /// `code`, with `message`.
    pub fn new(domain: &'static CStr, code: i32, message: &str) -> Failure {
        let m = cstring(message);
        // SAFETY: domain is static and NUL-terminated; the message is copied.
        let p = unsafe { sys::dfr_failure_new(domain.as_ptr(), code, m.as_ptr()) };
        // SAFETY: a fresh failure whose reference we own.
        unsafe { Failure::from_raw(nonnull_or_oom(p).as_ptr()) }
    }

    /// A failure with one of the library's codes and its standard message.
    pub fn from_code(code: ErrorCode) -> Failure {
        Failure::from_rc(code.code())
    }

    pub(crate) fn from_rc(rc: i32) -> Failure {
        // SAFETY: dfr_strerror never returns NULL and returns a static string.
        let msg = unsafe { sys::dfr_strerror(rc) };
        // SAFETY: static domain and message.
        let p = unsafe { sys::dfr_failure_new(DFR_DOMAIN.as_ptr(), rc, msg) };
        // SAFETY: a fresh failure whose reference we own.
        unsafe { Failure::from_raw(nonnull_or_oom(p).as_ptr()) }
    }

    /// A plain Rust failure (domain `"rust"`, code `RUST_ERROR`).
    pub fn msg(message: impl fmt::Display) -> Failure {
        Failure::new(RUST_DOMAIN, RUST_ERROR, &message.to_string())
    }

    /// A failure carrying a Rust error: the message is its `Display`, its
    /// `source()` chain becomes the cause chain, and `downcast_ref` finds it
    /// again.
    pub fn from_error<E: std::error::Error + Send + Sync + 'static>(err: E) -> Failure {
        let mut chain = Vec::new();
        let mut s = err.source();
        while let Some(e) = s {
            chain.push(e.to_string());
            s = e.source();
        }
        let mut cause: Option<Failure> = None;
        for m in chain.iter().rev() {
            cause = Some(match cause {
                None => Failure::msg(m),
                Some(c) => c.wrap(RUST_DOMAIN, RUST_ERROR, m),
            });
        }
        let f = match cause {
            None => Failure::msg(&err),
            Some(c) => c.wrap(RUST_DOMAIN, RUST_ERROR, &err.to_string()),
        };
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
        // SAFETY: f is a fresh, unshared failure (not a preallocated one:
        // domain "rust"); the payload value's ownership moves to it.
        let rc = unsafe { sys::dfr_failure_set_payload(f.as_ptr(), value::into_value(boxed)) };
        debug_assert_eq!(rc, 0);
        f
    }

    /// A new failure with `self` as its cause.
    pub fn wrap(self, domain: &'static CStr, code: i32, message: &str) -> Failure {
        let m = cstring(message);
        // SAFETY: wrap takes our reference to the cause in every case.
        let p =
            unsafe { sys::dfr_failure_wrap(self.into_raw(), domain.as_ptr(), code, m.as_ptr()) };
        // SAFETY: a fresh failure whose reference we own.
        unsafe { Failure::from_raw(nonnull_or_oom(p).as_ptr()) }
    }

    pub(crate) fn panic(payload: Box<dyn std::any::Any + Send>) -> Failure {
        let msg = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "Box<dyn Any>".to_string()
        };
        // Dropping a panic payload can itself panic: keep it from unwinding here.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
        Failure::new(RUST_DOMAIN, RUST_PANIC, &format!("panicked: {msg}"))
    }

    pub(crate) fn wrong_type(expected: &str, got: &sys::dfr_value) -> Failure {
        Failure::new(
            RUST_DOMAIN,
            RUST_WRONG_TYPE,
            &format!(
                "expected a {expected}, got a {} value",
                value::type_name(got)
            ),
        )
    }

    /// Takes over one reference to `p`.
    ///
    /// # Safety
    /// `p` is a valid failure and the caller gives its reference away.
    pub unsafe fn from_raw(p: *mut sys::dfr_failure) -> Failure {
        Failure {
            ptr: NonNull::new(p).expect("non-null failure"),
            cause: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Gives the reference away (to `dfr_deferred_errback`, a failure value...).
    pub fn into_raw(self) -> *mut sys::dfr_failure {
        let mut me = std::mem::ManuallyDrop::new(self);
        let c = *me.cause.get_mut();
        if !c.is_null() {
            // SAFETY: the box made by cause(), ours alone now.
            drop(unsafe { Box::from_raw(c) });
        }
        me.ptr.as_ptr()
    }

    /// The borrowed C pointer.
    pub fn as_ptr(&self) -> *mut sys::dfr_failure {
        self.ptr.as_ptr()
    }

    fn cstr(&self, p: *const std::ffi::c_char) -> Cow<'_, str> {
        if p.is_null() {
            return Cow::Borrowed("");
        }
        // SAFETY: the library's strings live as long as the failure.
        unsafe { CStr::from_ptr(p) }.to_string_lossy()
    }

    /// The domain (`"dfr"` for the library's own codes, `"rust"` for ours).
    pub fn domain(&self) -> Cow<'_, str> {
        // SAFETY: valid failure.
        self.cstr(unsafe { sys::dfr_failure_domain(self.as_ptr()) })
    }

    /// The code within the domain.
    pub fn code(&self) -> i32 {
        // SAFETY: valid failure.
        unsafe { sys::dfr_failure_code(self.as_ptr()) }
    }

    /// The message.
    pub fn message(&self) -> Cow<'_, str> {
        // SAFETY: valid failure.
        self.cstr(unsafe { sys::dfr_failure_message(self.as_ptr()) })
    }

    /// The library code, when the domain is `"dfr"`.
    pub fn kind(&self) -> Option<ErrorCode> {
        if self.check(DFR_DOMAIN, sys::DFR_ANY) {
            ErrorCode::from_code(self.code())
        } else {
            None
        }
    }

    /// Whether this is a cancellation (`ErrorCode::Cancelled`).
    pub fn is_cancelled(&self) -> bool {
        self.kind() == Some(ErrorCode::Cancelled)
    }

    /// Whether this is a panic caught by this crate.
    pub fn is_panic(&self) -> bool {
        self.check(RUST_DOMAIN, RUST_PANIC)
    }

    /// Failure.check: same domain and code (`deferred_sys::DFR_ANY`: any code).
    pub fn check(&self, domain: &CStr, code: i32) -> bool {
        // SAFETY: valid failure and C string.
        unsafe { sys::dfr_failure_check(self.as_ptr(), domain.as_ptr(), code) }
    }

    /// For a FirstError: the index of the input that failed.
    pub fn index(&self) -> Option<usize> {
        // SAFETY: valid failure.
        let i = unsafe { sys::dfr_failure_index(self.as_ptr()) };
        usize::try_from(i).ok()
    }

    /// The cause, if any.
    pub fn cause(&self) -> Option<&Failure> {
        let mut p = self.cause.load(Ordering::Acquire);
        if p.is_null() {
            // SAFETY: valid failure; the cause is borrowed.
            let c = unsafe { sys::dfr_failure_cause(self.as_ptr()) };
            if c.is_null() {
                return None;
            }
            // SAFETY: c is a live failure; ref gives us our own reference.
            let mine = Box::into_raw(Box::new(unsafe {
                Failure::from_raw(sys::dfr_failure_ref(c.cast_mut()))
            }));
            p = match self.cause.compare_exchange(
                std::ptr::null_mut(),
                mine,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => mine,
                Err(theirs) => {
                    // Another thread made it first.
                    // SAFETY: ours, never shared.
                    drop(unsafe { Box::from_raw(mine) });
                    theirs
                }
            };
        }
        // SAFETY: set once, freed only in drop; lives as long as self.
        Some(unsafe { &*p })
    }

    /// The Rust error given to `from_error`, if it is an `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        // SAFETY: valid failure; the payload is borrowed for as long as self.
        let p = unsafe { sys::dfr_failure_payload(self.as_ptr()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: p points to the failure's payload, alive as long as self.
        let boxed = unsafe { value::peek::<Box<dyn std::error::Error + Send + Sync>>(&*p) }?;
        boxed.downcast_ref::<E>()
    }

    /// The library's report (domain, code, message, causes; with debug mode,
    /// where it was made).
    pub fn describe(&self) -> String {
        // SAFETY: valid failure; the result is malloc'd and ours to free.
        let p = unsafe { sys::dfr_failure_describe(self.as_ptr()) };
        if p.is_null() {
            return self.to_string();
        }
        // SAFETY: a NUL-terminated string we own.
        let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
        // SAFETY: returned by the library for dfr_free.
        unsafe { sys::dfr_free(p.cast()) };
        s
    }
}

impl Clone for Failure {
    fn clone(&self) -> Failure {
        // SAFETY: valid failure; ref returns the same pointer with a new reference.
        unsafe { Failure::from_raw(sys::dfr_failure_ref(self.as_ptr())) }
    }
}

impl Drop for Failure {
    fn drop(&mut self) {
        let c = *self.cause.get_mut();
        if !c.is_null() {
            // SAFETY: the box made by cause(), ours alone now.
            drop(unsafe { Box::from_raw(c) });
        }
        // SAFETY: we own one reference.
        unsafe { sys::dfr_failure_unref(self.as_ptr()) }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} {})", self.message(), self.domain(), self.code())
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("domain", &self.domain())
            .field("code", &self.code())
            .field("message", &self.message())
            .field("cause", &self.cause())
            .finish()
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl From<ErrorCode> for Failure {
    fn from(c: ErrorCode) -> Failure {
        Failure::from_code(c)
    }
}

/// 0 → Ok, a negative code → its failure.
pub(crate) fn check(rc: std::ffi::c_int) -> Result<(), Failure> {
    if rc >= 0 {
        Ok(())
    } else {
        Err(Failure::from_rc(rc))
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use deferred_sys as sys;

    #[test]
    fn every_library_code_has_a_variant() {
        for rc in sys::DFR_EINUSE..=sys::DFR_EINVAL {
            let c = ErrorCode::from_code(rc).unwrap_or_else(|| panic!("no variant for {rc}"));
            assert_eq!(c.code(), rc);
        }
        assert_eq!(ErrorCode::from_code(sys::DFR_OK), None);
        assert_eq!(ErrorCode::from_code(sys::DFR_EINUSE - 1), None);
        assert_eq!(
            ErrorCode::from_code(sys::DFR_ENOTRESTARTABLE),
            Some(ErrorCode::NotRestartable)
        );
    }
}
