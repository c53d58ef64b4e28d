//! The C functions of c/interop.c (see there).
#![allow(missing_docs)]
use deferred_sys::{dfr_deferred, dfr_reactor};

extern "C" {
    pub fn interop_c_later(r: *mut dfr_reactor, delay: f64, v: i64) -> *mut dfr_deferred;
    pub fn interop_c_pool(r: *mut dfr_reactor, v: i64) -> *mut dfr_deferred;
    pub fn interop_c_await_sum(a: *mut dfr_deferred, b: *mut dfr_deferred) -> *mut dfr_deferred;
    pub fn interop_c_list_sum(
        r: *mut dfr_reactor,
        from_rust: *mut dfr_deferred,
    ) -> *mut dfr_deferred;
    pub fn interop_c_list_first(d: *mut dfr_deferred) -> *mut dfr_deferred;
}
