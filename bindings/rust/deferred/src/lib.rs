//! Twisted's Deferreds, reactor and inlineCallbacks for Rust, over
//! libdeferred's C engine (which runs every chain).
//!
//! * [`Deferred<T>`]: typed chains — `add_callback(|t: T| -> Result<U, Failure>)`
//!   gives a `Deferred<U>` over the same C deferred; `.await` works.
//! * Any `T: 'static` travels through C chains (boxed, dropped exactly once
//!   wherever the library lets go of it); `i64`, `f64`, `()`, `String`,
//!   `Vec<u8>` map to the library's own value types.  See [`value`].
//! * [`Reactor`]: timers, the manual clock, deferLater, LoopingCall, the
//!   thread pool ([`ReactorRef::defer_to_thread`]) and the executor for Rust
//!   async code on the reactor thread ([`ReactorRef::spawn_local`]).
//! * Thread rule: deferreds and the reactor are `!Send`; the `Send + Sync`
//!   [`ReactorHandle`] gives `call_from_thread` and `spawn` to other threads.
//! * Panics in callbacks and closures become [`Failure`]s (`is_panic()`);
//!   they never unwind into C.
//!
//! ```
//! use deferred::{Deferred, Failure, Reactor};
//! use std::time::Duration;
//!
//! let reactor = Reactor::manual_clock()?;
//! let d: Deferred<i64> = reactor.defer_later(Duration::from_secs(5), || Ok(20))?;
//! let d = d.add_callback(|x| Ok(x * 2 + 2));
//! reactor.advance(Duration::from_secs(5))?;
//! let _ = d.add_callback(|x: i64| { assert_eq!(x, 42); Ok(()) });
//! # Ok::<(), Failure>(())
//! ```
//!
//! The thread rule is checked at compile time: a deferred cannot be sent to
//! another thread,
//! ```compile_fail
//! fn send<T: Send>(_: T) {}
//! send(deferred::Deferred::<i64>::new());
//! ```
//! nor can the reactor,
//! ```compile_fail
//! fn send<T: Send>(_: T) {}
//! send(deferred::Reactor::new().unwrap());
//! ```
//! while its handle can:
//! ```
//! fn send<T: Send + Sync>(_: T) {}
//! let r = deferred::Reactor::new().unwrap();
//! send(r.handle());
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod call;
mod deferred;
mod failure;
mod list;
mod maybe;
mod reactor;
mod sync;
mod threadpool;
mod unhandled;
pub mod value;

pub use call::{CArg, CFunction, CReturn, SafeCFunction};
pub use deferred::{Deferred, DeferredFuture, State};
pub use deferred_sys as sys;
pub use failure::{
    ErrorCode, Failure, DFR_DOMAIN, RUST_DOMAIN, RUST_ERROR, RUST_PANIC, RUST_WRONG_TYPE,
};
pub use list::{deferred_list, deferred_list_with, gather, ListFlags, ListResult};
pub use maybe::{maybe_deferred, IntoDeferred};
pub use reactor::{
    DelayedCall, LoopingCall, Phase, Reactor, ReactorHandle, ReactorOptions, ReactorRef,
    RemoteResult, SystemEvent, Tick, TriggerId,
};
pub use sync::{Lock, Queue, Semaphore};
pub use threadpool::ThreadPool;
pub use unhandled::{set_unhandled_error_hook, UnhandledErrorHook};
pub use value::{List, RawValue};

// The README's examples are doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The libdeferred version this crate was built against (from pkg-config).
pub const BUILT_AGAINST: &str = env!("DFR_BUILT_AGAINST");

fn compatible(built: &str, running: &str) -> bool {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let mut it = v.split('.').map(|x| x.parse::<u32>().ok());
        Some((it.next()??, it.next()??))
    };
    match (parse(built), parse(running)) {
        // 0.x: minor versions may break the ABI; from 1.0 on, majors do.
        (Some((0, a)), Some((0, b))) => a == b,
        (Some((a, _)), Some((b, _))) => a == b,
        _ => false,
    }
}

/// Whether the libdeferred running now is compatible with the one this
/// crate was built against (same major version; for 0.x the same minor).
/// `Reactor::new` checks it once, so a mismatch is an error, not a crash.
pub fn check_library_version() -> Result<(), Failure> {
    static CHECK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *CHECK.get_or_init(|| compatible(BUILT_AGAINST, library_version())) {
        Ok(())
    } else {
        Err(Failure::msg(format!(
            "libdeferred {} at run time is not compatible with {} (built against)",
            library_version(),
            BUILT_AGAINST
        )))
    }
}

/// The version of the libdeferred this program runs with ("MAJOR.MINOR.PATCH").
pub fn library_version() -> &'static str {
    // SAFETY: a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(sys::dfr_version()) }
        .to_str()
        .unwrap_or("?")
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_compatibility() {
        use super::compatible;
        assert!(compatible("0.1.0", "0.1.7"));
        assert!(!compatible("0.1.0", "0.2.0"));
        assert!(compatible("1.2.0", "1.5.1"));
        assert!(!compatible("1.2.0", "2.0.0"));
        assert!(!compatible("x", "1.0.0"));
        assert!(super::check_library_version().is_ok());
    }
}
