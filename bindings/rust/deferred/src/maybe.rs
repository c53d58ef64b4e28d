//! maybeDeferred: call a function now and get its outcome as a deferred,
//! whether it gave a value, a failure, a panic or a deferred.
use crate::deferred::Deferred;
use crate::failure::Failure;
use crate::value::guard;

/// What a [`maybe_deferred`] function may return (sealed):
/// `Result<T, Failure>` or a `Deferred<T>`.
pub trait IntoDeferred<T: 'static>: sealed::Sealed {
    #[doc(hidden)]
    fn into_deferred(self) -> Deferred<T>;
}

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for Result<T, crate::Failure> {}
    impl<T: 'static> Sealed for crate::Deferred<T> {}
}

impl<T: 'static> IntoDeferred<T> for Result<T, Failure> {
    fn into_deferred(self) -> Deferred<T> {
        match self {
            Ok(t) => Deferred::succeed(t),
            Err(f) => Deferred::fail(f),
        }
    }
}

impl<T: 'static> IntoDeferred<T> for Deferred<T> {
    fn into_deferred(self) -> Deferred<T> {
        self
    }
}

/// Twisted's `maybeDeferred`: calls `f` now; a value gives a fired
/// deferred, an `Err` or a panic a failed one (the panic as a `RUST_PANIC`
/// failure), and a deferred is returned as it is.
///
/// ```
/// use deferred::{maybe_deferred, Deferred, Failure, State};
/// assert_eq!(maybe_deferred(|| Ok(5i64)).state(), State::Succeeded);
/// assert_eq!(
///     maybe_deferred(|| -> Result<i64, Failure> { Err(Failure::msg("no")) }).state(),
///     State::Failed
/// );
/// let later: Deferred<i64> = Deferred::new();
/// let l = later.clone();
/// assert_eq!(maybe_deferred(move || l).as_ptr(), later.as_ptr());
/// ```
pub fn maybe_deferred<T: 'static, R: IntoDeferred<T>>(f: impl FnOnce() -> R) -> Deferred<T> {
    match guard(|| Ok(f())) {
        Ok(r) => r.into_deferred(),
        Err(e) => Deferred::fail(e),
    }
}
