//! Raw declarations of libdeferred's public C API (`include/deferred.h` and
//! `include/deferred/ffi.h`), written by hand.  `tests/abi.rs` proves them
//! against the header (sizes, alignments, field offsets, constants) and
//! against the built library (every exported `dfr_` symbol is declared here).
//!
//! Every `extern` item of the library lives in this one file, so a rename of
//! a C function is a change in one place.  See the header comments for the
//! contract of each function; the safe API is the `deferred` crate.
#![no_std]
#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_double, c_int, c_uint, c_void};

// ---- common.h ----

pub const DFR_OK: c_int = 0;
pub const DFR_EINVAL: c_int = -1;
pub const DFR_ENOMEM: c_int = -2;
pub const DFR_EALREADY: c_int = -3;
pub const DFR_ECANCELLED: c_int = -4;
pub const DFR_ETIMEDOUT: c_int = -5;
pub const DFR_EFIRST: c_int = -6;
pub const DFR_ENOTRUNNING: c_int = -7;
pub const DFR_EALREADY_CANCELLED: c_int = -8;
pub const DFR_EALREADY_RAN: c_int = -9;
pub const DFR_ENOTCORO: c_int = -10;
pub const DFR_EDEADLK: c_int = -11;
pub const DFR_EOVERFLOW: c_int = -12;
pub const DFR_EUNDERFLOW: c_int = -13;
pub const DFR_ENOTOWNER: c_int = -14;
pub const DFR_ECONNREFUSED: c_int = -15;
pub const DFR_EUNREACHABLE: c_int = -16;
pub const DFR_ENOTFOUND: c_int = -17;
pub const DFR_ECONNRESET: c_int = -18;
pub const DFR_ECONNDONE: c_int = -19;
pub const DFR_ECONNLOST: c_int = -20;
pub const DFR_EFRAME: c_int = -21;
pub const DFR_EADDRINUSE: c_int = -22;
pub const DFR_EALREADY_RUNNING: c_int = -23;
pub const DFR_ENOTRESTARTABLE: c_int = -24;
pub const DFR_EALREADY_STARTED: c_int = -25;
pub const DFR_EINUSE: c_int = -26;

/// The failure domain of the library's own codes (NUL-terminated).
pub const DFR_DOMAIN: &[u8; 4] = b"dfr\0";
pub const DFR_ANY: c_int = i32::MIN;

pub type dfr_destroy_fn = Option<unsafe extern "C" fn(data: *mut c_void)>;

#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct dfr_allocator {
    pub size: usize,
    pub malloc: Option<unsafe extern "C" fn(n: usize, ctx: *mut c_void) -> *mut c_void>,
    pub realloc:
        Option<unsafe extern "C" fn(p: *mut c_void, n: usize, ctx: *mut c_void) -> *mut c_void>,
    pub free: Option<unsafe extern "C" fn(p: *mut c_void, ctx: *mut c_void)>,
    pub ctx: *mut c_void,
}

// ---- value.h ----

/// Opaque library objects.
macro_rules! opaque {
    ($($name:ident),*) => {$(
        #[repr(C)]
        pub struct $name {
            _data: [u8; 0],
            _marker: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
        }
    )*};
}
opaque!(
    dfr_failure,
    dfr_deferred,
    dfr_list,
    dfr_bytes,
    dfr_reactor,
    dfr_delayed_call,
    dfr_looping_call,
    dfr_threadpool,
    dfr_lock,
    dfr_semaphore,
    dfr_queue,
    dfr_stream,
    dfr_listener
);

#[repr(C)]
#[derive(Copy, Clone)]
pub union dfr_value_u {
    pub i64: i64,
    pub f64: c_double,
    pub ptr: *mut c_void,
}

/// The 16-byte tagged value; `type_ == NULL` is none.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct dfr_value {
    pub type_: *const dfr_type,
    pub u: dfr_value_u,
}

#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct dfr_type {
    pub size: usize,
    pub name: *const c_char,
    pub drop: Option<unsafe extern "C" fn(ptr: *mut c_void)>,
    pub clone: Option<unsafe extern "C" fn(v: *const dfr_value) -> dfr_value>,
}

// ---- deferred.h ----

pub type dfr_callback_fn =
    Option<unsafe extern "C" fn(result: dfr_value, data: *mut c_void) -> dfr_value>;
pub type dfr_task_fn = Option<unsafe extern "C" fn(data: *mut c_void) -> dfr_value>;
pub type dfr_canceller_fn = Option<unsafe extern "C" fn(d: *mut dfr_deferred, data: *mut c_void)>;
pub type dfr_unhandled_error_fn =
    Option<unsafe extern "C" fn(f: *const dfr_failure, data: *mut c_void)>;

pub type dfr_state = c_int;
/// What `dfr_deferred_state` answers for NULL.
pub const DFR_STATE_INVALID: dfr_state = -1;
pub const DFR_PENDING: dfr_state = 0;
pub const DFR_SUCCEEDED: dfr_state = 1;
pub const DFR_FAILED: dfr_state = 2;

// ---- list.h ----

/// `enum dfr_list_flags` (int-sized; OR-ed into `dfr_deferred_list`'s
/// `unsigned flags`).
pub type dfr_list_flags = c_uint;
pub const DFR_FIRE_ON_ONE_CALLBACK: dfr_list_flags = 1;
pub const DFR_FIRE_ON_ONE_ERRBACK: dfr_list_flags = 2;
pub const DFR_CONSUME_ERRORS: dfr_list_flags = 4;

// ---- util.h ----

pub const DFR_UNLIMITED: usize = usize::MAX;

// ---- reactor.h ----

pub type dfr_fn = Option<unsafe extern "C" fn(data: *mut c_void)>;

#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct dfr_reactor_options {
    pub size: usize,
    pub manual_clock: bool,
    pub threadpool_min: c_uint,
    pub threadpool_max: c_uint,
    pub uv_loop: *mut c_void,
}

/// `enum dfr_trigger_phase` (int-sized).
pub type dfr_trigger_phase = c_int;
pub const DFR_BEFORE: dfr_trigger_phase = 0;
pub const DFR_DURING: dfr_trigger_phase = 1;
pub const DFR_AFTER: dfr_trigger_phase = 2;
/// `enum dfr_trigger_event` (int-sized).
pub type dfr_trigger_event = c_int;
pub const DFR_STARTUP: dfr_trigger_event = 0;
pub const DFR_SHUTDOWN: dfr_trigger_event = 1;

// ---- coro.h ----

#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct dfr_coroutine_options {
    pub size: usize,
    pub stack_size: usize,
}

pub const DFR_CORO_DEFAULT_STACK: usize = 256 * 1024;
pub const DFR_CORO_MIN_STACK: usize = 16 * 1024;
pub const DFR_CORO_MAX_STACK: usize = 1024 * 1024 * 1024;

// ---- net.h ----

#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct dfr_connect_options {
    pub size: usize,
    pub family: c_int,
    pub no_delay: bool,
}

#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct dfr_listen_options {
    pub size: usize,
    pub backlog: c_int,
    pub no_delay: bool,
}

pub type dfr_accept_fn =
    Option<unsafe extern "C" fn(l: *mut dfr_listener, s: *mut dfr_stream, data: *mut c_void)>;

#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct dfr_protocol {
    pub size: usize,
    pub connection_made: Option<unsafe extern "C" fn(s: *mut dfr_stream, data: *mut c_void)>,
    pub data_received: Option<
        unsafe extern "C" fn(s: *mut dfr_stream, buf: *const c_void, len: usize, data: *mut c_void),
    >,
    pub read_eof: Option<unsafe extern "C" fn(s: *mut dfr_stream, data: *mut c_void)>,
    pub connection_lost: Option<
        unsafe extern "C" fn(s: *mut dfr_stream, reason: *const dfr_failure, data: *mut c_void),
    >,
    pub write_full: Option<unsafe extern "C" fn(s: *mut dfr_stream, data: *mut c_void)>,
    pub write_drained: Option<unsafe extern "C" fn(s: *mut dfr_stream, data: *mut c_void)>,
}

pub const DFR_FRAMING_LINES: c_int = 1;
pub const DFR_FRAMING_NETSTRINGS: c_int = 2;

#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct dfr_framed_protocol {
    pub size: usize,
    pub framing: c_int,
    pub max: usize,
    pub connection_made: Option<unsafe extern "C" fn(s: *mut dfr_stream, data: *mut c_void)>,
    pub frame_received: Option<
        unsafe extern "C" fn(
            s: *mut dfr_stream,
            frame: *const c_void,
            len: usize,
            data: *mut c_void,
        ),
    >,
    pub connection_lost: Option<
        unsafe extern "C" fn(s: *mut dfr_stream, reason: *const dfr_failure, data: *mut c_void),
    >,
}

// ---- ffi_forms.h ----

/// A callback or task in FFI form: `*v` holds the result in and out.
pub type dfr_value_fn = Option<unsafe extern "C" fn(v: *mut dfr_value, data: *mut c_void)>;

/// `enum dfr_kind` (int-sized): what `dfr_value_kind` answers.
pub type dfr_kind = c_int;
/// What `dfr_value_kind` answers for NULL.
pub const DFR_KIND_INVALID: dfr_kind = -1;
pub const DFR_KIND_NONE: dfr_kind = 0;
pub const DFR_KIND_I64: dfr_kind = 1;
pub const DFR_KIND_F64: dfr_kind = 2;
pub const DFR_KIND_PTR: dfr_kind = 3;
pub const DFR_KIND_BYTES: dfr_kind = 4;
pub const DFR_KIND_FAILURE: dfr_kind = 5;
pub const DFR_KIND_DEFERRED: dfr_kind = 6;
pub const DFR_KIND_LIST: dfr_kind = 7;
pub const DFR_KIND_OTHER: dfr_kind = 8;

extern "C" {
    // common.h
    pub fn dfr_strerror(code: c_int) -> *const c_char;
    pub fn dfr_version() -> *const c_char;
    pub fn dfr_set_allocator(a: *const dfr_allocator) -> c_int;
    pub fn dfr_set_debug(on: bool);
    pub fn dfr_debug_enabled() -> bool;
    pub fn dfr_trim();
    pub fn dfr_free(p: *mut c_void);

    // value.h
    pub static dfr_type_i64: dfr_type;
    pub static dfr_type_f64: dfr_type;
    pub static dfr_type_ptr: dfr_type;
    pub static dfr_type_bytes: dfr_type;
    pub static dfr_type_failure: dfr_type;
    pub static dfr_type_deferred: dfr_type;
    pub static dfr_type_list: dfr_type;
    pub fn dfr_value_drop(v: dfr_value);
    pub fn dfr_value_clone(v: *const dfr_value) -> dfr_value;
    pub fn dfr_bytes_new(data: *const c_void, len: usize) -> dfr_value;
    pub fn dfr_bytes_data(v: *const dfr_value) -> *const c_void;
    pub fn dfr_bytes_len(v: *const dfr_value) -> usize;
    pub fn dfr_failure_from(v: *const dfr_value) -> *mut dfr_failure;
    pub fn dfr_deferred_from(v: *const dfr_value) -> *mut dfr_deferred;
    pub fn dfr_none() -> dfr_value;
    pub fn dfr_i64(x: i64) -> dfr_value;
    pub fn dfr_f64(x: c_double) -> dfr_value;
    pub fn dfr_ptr(p: *mut c_void) -> dfr_value;
    pub fn dfr_obj(type_: *const dfr_type, p: *mut c_void) -> dfr_value;
    pub fn dfr_value_failure(f: *mut dfr_failure) -> dfr_value;
    pub fn dfr_value_deferred(d: *mut dfr_deferred) -> dfr_value;
    pub fn dfr_is_none(v: dfr_value) -> bool;
    pub fn dfr_is_failure(v: dfr_value) -> bool;
    pub fn dfr_is_deferred(v: dfr_value) -> bool;
    pub fn dfr_is_i64(v: dfr_value) -> bool;
    pub fn dfr_is_f64(v: dfr_value) -> bool;
    pub fn dfr_is_list(v: dfr_value) -> bool;
    pub fn dfr_is_bytes(v: dfr_value) -> bool;

    // failure.h
    pub fn dfr_failure_new(
        domain: *const c_char,
        code: c_int,
        message: *const c_char,
    ) -> *mut dfr_failure;
    pub fn dfr_failure_newf(
        domain: *const c_char,
        code: c_int,
        fmt: *const c_char,
        ...
    ) -> *mut dfr_failure;
    pub fn dfr_failure_wrap(
        cause: *mut dfr_failure,
        domain: *const c_char,
        code: c_int,
        message: *const c_char,
    ) -> *mut dfr_failure;
    pub fn dfr_failure_ref(f: *mut dfr_failure) -> *mut dfr_failure;
    pub fn dfr_failure_unref(f: *mut dfr_failure);
    pub fn dfr_failure_domain(f: *const dfr_failure) -> *const c_char;
    pub fn dfr_failure_code(f: *const dfr_failure) -> c_int;
    pub fn dfr_failure_message(f: *const dfr_failure) -> *const c_char;
    pub fn dfr_failure_cause(f: *const dfr_failure) -> *const dfr_failure;
    pub fn dfr_failure_index(f: *const dfr_failure) -> i64;
    pub fn dfr_failure_check(f: *const dfr_failure, domain: *const c_char, code: c_int) -> bool;
    pub fn dfr_failure_set_payload(f: *mut dfr_failure, payload: dfr_value) -> c_int;
    pub fn dfr_failure_payload(f: *const dfr_failure) -> *const dfr_value;
    pub fn dfr_failure_describe(f: *const dfr_failure) -> *mut c_char;

    // deferred.h
    pub fn dfr_deferred_new() -> *mut dfr_deferred;
    pub fn dfr_deferred_new_cancellable(
        canceller: dfr_canceller_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_deferred;
    pub fn dfr_deferred_ref(d: *mut dfr_deferred) -> *mut dfr_deferred;
    pub fn dfr_deferred_unref(d: *mut dfr_deferred);
    pub fn dfr_set_unhandled_error_hook(fn_: dfr_unhandled_error_fn, data: *mut c_void);
    pub fn dfr_deferred_add_callbacks(
        d: *mut dfr_deferred,
        cb: dfr_callback_fn,
        eb: dfr_callback_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_deferred_add_callback(
        d: *mut dfr_deferred,
        cb: dfr_callback_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_deferred_add_errback(
        d: *mut dfr_deferred,
        eb: dfr_callback_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_deferred_add_both(
        d: *mut dfr_deferred,
        fn_: dfr_callback_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_deferred_callback(d: *mut dfr_deferred, v: dfr_value) -> c_int;
    pub fn dfr_deferred_errback(d: *mut dfr_deferred, f: *mut dfr_failure) -> c_int;
    pub fn dfr_deferred_cancel(d: *mut dfr_deferred);
    pub fn dfr_deferred_pause(d: *mut dfr_deferred) -> c_int;
    pub fn dfr_deferred_unpause(d: *mut dfr_deferred) -> c_int;
    pub fn dfr_deferred_chain(d: *mut dfr_deferred, other: *mut dfr_deferred) -> c_int;
    pub fn dfr_deferred_state(d: *const dfr_deferred) -> c_int;
    pub fn dfr_deferred_result(d: *const dfr_deferred) -> *const dfr_value;
    pub fn dfr_deferred_paused(d: *const dfr_deferred) -> c_int;
    pub fn dfr_deferred_take_result(d: *mut dfr_deferred, out: *mut dfr_value) -> bool;
    pub fn dfr_succeed(v: dfr_value) -> *mut dfr_deferred;
    pub fn dfr_fail(f: *mut dfr_failure) -> *mut dfr_deferred;
    pub fn dfr_maybe_deferred(fn_: dfr_task_fn, data: *mut c_void) -> *mut dfr_deferred;

    // list.h
    pub fn dfr_deferred_list(
        ds: *const *mut dfr_deferred,
        n: usize,
        flags: c_uint,
    ) -> *mut dfr_deferred;
    pub fn dfr_gather_results(
        ds: *const *mut dfr_deferred,
        n: usize,
        consume_errors: bool,
    ) -> *mut dfr_deferred;
    pub fn dfr_list_from(v: *const dfr_value) -> *mut dfr_list;
    pub fn dfr_list_len(l: *const dfr_list) -> usize;
    pub fn dfr_list_ok(l: *const dfr_list, i: usize) -> bool;
    pub fn dfr_list_get(l: *const dfr_list, i: usize) -> *const dfr_value;
    pub fn dfr_list_take(l: *mut dfr_list, i: usize) -> dfr_value;

    // util.h
    pub fn dfr_lock_new() -> *mut dfr_lock;
    pub fn dfr_lock_free(l: *mut dfr_lock);
    pub fn dfr_lock_acquire(l: *mut dfr_lock) -> *mut dfr_deferred;
    pub fn dfr_lock_release(l: *mut dfr_lock) -> c_int;
    pub fn dfr_lock_locked(l: *const dfr_lock) -> bool;
    pub fn dfr_lock_waiting(l: *const dfr_lock) -> usize;
    pub fn dfr_lock_run(
        l: *mut dfr_lock,
        fn_: dfr_task_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_deferred;
    pub fn dfr_semaphore_new(tokens: c_uint) -> *mut dfr_semaphore;
    pub fn dfr_semaphore_free(s: *mut dfr_semaphore);
    pub fn dfr_semaphore_acquire(s: *mut dfr_semaphore) -> *mut dfr_deferred;
    pub fn dfr_semaphore_release(s: *mut dfr_semaphore) -> c_int;
    pub fn dfr_semaphore_tokens(s: *const dfr_semaphore) -> c_uint;
    pub fn dfr_semaphore_waiting(s: *const dfr_semaphore) -> usize;
    pub fn dfr_semaphore_run(
        s: *mut dfr_semaphore,
        fn_: dfr_task_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_deferred;
    pub fn dfr_queue_new(size: usize, backlog: usize) -> *mut dfr_queue;
    pub fn dfr_queue_free(q: *mut dfr_queue);
    pub fn dfr_queue_put(q: *mut dfr_queue, v: dfr_value) -> c_int;
    pub fn dfr_queue_get(q: *mut dfr_queue) -> *mut dfr_deferred;
    pub fn dfr_queue_pending(q: *const dfr_queue) -> usize;
    pub fn dfr_queue_waiting(q: *const dfr_queue) -> usize;

    // reactor.h
    pub fn dfr_reactor_new(opts: *const dfr_reactor_options) -> *mut dfr_reactor;
    pub fn dfr_reactor_free(r: *mut dfr_reactor);
    pub fn dfr_reactor_run(r: *mut dfr_reactor) -> c_int;
    pub fn dfr_reactor_stop(r: *mut dfr_reactor) -> c_int;
    pub fn dfr_reactor_iterate(r: *mut dfr_reactor, max_wait: c_double) -> c_int;
    pub fn dfr_reactor_seconds(r: *const dfr_reactor) -> c_double;
    pub fn dfr_reactor_advance(r: *mut dfr_reactor, seconds: c_double) -> c_int;
    pub fn dfr_reactor_running(r: *const dfr_reactor) -> bool;
    pub fn dfr_reactor_in_thread(r: *const dfr_reactor) -> bool;
    pub fn dfr_reactor_call_later(
        r: *mut dfr_reactor,
        delay: c_double,
        fn_: dfr_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
        out: *mut *mut dfr_delayed_call,
    ) -> c_int;
    pub fn dfr_delayed_call_cancel(dc: *mut dfr_delayed_call) -> c_int;
    pub fn dfr_delayed_call_reset(dc: *mut dfr_delayed_call, delay: c_double) -> c_int;
    pub fn dfr_delayed_call_delay(dc: *mut dfr_delayed_call, seconds: c_double) -> c_int;
    pub fn dfr_delayed_call_active(dc: *const dfr_delayed_call) -> bool;
    pub fn dfr_delayed_call_time(dc: *const dfr_delayed_call) -> c_double;
    pub fn dfr_delayed_call_ref(dc: *mut dfr_delayed_call) -> *mut dfr_delayed_call;
    pub fn dfr_delayed_call_unref(dc: *mut dfr_delayed_call);
    pub fn dfr_reactor_pending_calls(r: *const dfr_reactor) -> usize;
    pub fn dfr_reactor_call_when_running(
        r: *mut dfr_reactor,
        fn_: dfr_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_reactor_call_from_thread(
        r: *mut dfr_reactor,
        fn_: dfr_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_reactor_add_system_event_trigger(
        r: *mut dfr_reactor,
        phase: dfr_trigger_phase,
        event: dfr_trigger_event,
        fn_: dfr_task_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
        id: *mut u64,
    ) -> c_int;
    pub fn dfr_reactor_remove_system_event_trigger(r: *mut dfr_reactor, id: u64) -> c_int;
    pub fn dfr_reactor_defer_later(
        r: *mut dfr_reactor,
        delay: c_double,
        fn_: dfr_task_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_deferred;
    pub fn dfr_deferred_add_timeout(
        d: *mut dfr_deferred,
        r: *mut dfr_reactor,
        seconds: c_double,
    ) -> c_int;
    pub fn dfr_deferred_add_timeout_with(
        d: *mut dfr_deferred,
        r: *mut dfr_reactor,
        seconds: c_double,
        on_timeout: dfr_callback_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_looping_call_new(
        r: *mut dfr_reactor,
        fn_: dfr_task_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_looping_call;
    pub fn dfr_looping_call_start(
        lc: *mut dfr_looping_call,
        interval: c_double,
        now: bool,
    ) -> *mut dfr_deferred;
    pub fn dfr_looping_call_stop(lc: *mut dfr_looping_call) -> c_int;
    pub fn dfr_looping_call_reset(lc: *mut dfr_looping_call) -> c_int;
    pub fn dfr_looping_call_running(lc: *const dfr_looping_call) -> bool;
    pub fn dfr_looping_call_with_count(lc: *mut dfr_looping_call) -> c_int;
    pub fn dfr_looping_call_count(lc: *const dfr_looping_call) -> u64;
    pub fn dfr_looping_call_ref(lc: *mut dfr_looping_call) -> *mut dfr_looping_call;
    pub fn dfr_looping_call_unref(lc: *mut dfr_looping_call);

    // thread.h
    pub fn dfr_reactor_defer_to_thread(
        r: *mut dfr_reactor,
        fn_: dfr_task_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_deferred;
    pub fn dfr_reactor_suggest_threadpool_size(r: *mut dfr_reactor, max: c_uint) -> c_int;
    pub fn dfr_threadpool_new(min: c_uint, max: c_uint, name: *const c_char)
        -> *mut dfr_threadpool;
    pub fn dfr_threadpool_start(p: *mut dfr_threadpool) -> c_int;
    pub fn dfr_threadpool_stop(p: *mut dfr_threadpool) -> c_int;
    pub fn dfr_threadpool_free(p: *mut dfr_threadpool);
    pub fn dfr_threadpool_threads(p: *const dfr_threadpool) -> c_uint;
    pub fn dfr_reactor_defer_to_threadpool(
        r: *mut dfr_reactor,
        p: *mut dfr_threadpool,
        fn_: dfr_task_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_deferred;
    pub fn dfr_reactor_blocking_call_from_thread(
        r: *mut dfr_reactor,
        fn_: dfr_task_fn,
        data: *mut c_void,
    ) -> dfr_value;

    // coro.h
    pub fn dfr_inline_callbacks(
        fn_: dfr_task_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_deferred;
    pub fn dfr_inline_callbacks_ex(
        fn_: dfr_task_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
        opts: *const dfr_coroutine_options,
    ) -> *mut dfr_deferred;
    pub fn dfr_await(d: *mut dfr_deferred) -> dfr_value;
    pub fn dfr_in_coroutine() -> bool;

    // net.h
    pub static dfr_type_stream: dfr_type;
    pub fn dfr_stream_from(v: *const dfr_value) -> *mut dfr_stream;
    pub fn dfr_reactor_connect_tcp(
        r: *mut dfr_reactor,
        host: *const c_char,
        port: c_int,
        opts: *const dfr_connect_options,
    ) -> *mut dfr_deferred;
    pub fn dfr_reactor_connect_unix(
        r: *mut dfr_reactor,
        path: *const c_char,
        opts: *const dfr_connect_options,
    ) -> *mut dfr_deferred;
    pub fn dfr_reactor_listen_tcp(
        r: *mut dfr_reactor,
        iface: *const c_char,
        port: c_int,
        on_accept: dfr_accept_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
        opts: *const dfr_listen_options,
        out: *mut *mut dfr_listener,
    ) -> c_int;
    pub fn dfr_reactor_listen_unix(
        r: *mut dfr_reactor,
        path: *const c_char,
        on_accept: dfr_accept_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
        opts: *const dfr_listen_options,
        out: *mut *mut dfr_listener,
    ) -> c_int;
    pub fn dfr_listener_port(l: *const dfr_listener) -> c_int;
    pub fn dfr_listener_stop(l: *mut dfr_listener) -> *mut dfr_deferred;
    pub fn dfr_listener_ref(l: *mut dfr_listener) -> *mut dfr_listener;
    pub fn dfr_listener_unref(l: *mut dfr_listener);
    pub fn dfr_stream_ref(s: *mut dfr_stream) -> *mut dfr_stream;
    pub fn dfr_stream_unref(s: *mut dfr_stream);
    pub fn dfr_stream_set_protocol(
        s: *mut dfr_stream,
        p: *const dfr_protocol,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_stream_pause_reading(s: *mut dfr_stream) -> c_int;
    pub fn dfr_stream_resume_reading(s: *mut dfr_stream) -> c_int;
    pub fn dfr_stream_read(s: *mut dfr_stream, max: usize) -> *mut dfr_deferred;
    pub fn dfr_stream_read_exactly(s: *mut dfr_stream, n: usize) -> *mut dfr_deferred;
    pub fn dfr_stream_read_until(
        s: *mut dfr_stream,
        delim: *const c_void,
        delim_len: usize,
        max: usize,
    ) -> *mut dfr_deferred;
    pub fn dfr_stream_read_to_eof(s: *mut dfr_stream, max: usize) -> *mut dfr_deferred;
    pub fn dfr_stream_write(s: *mut dfr_stream, buf: *const c_void, len: usize) -> c_int;
    pub fn dfr_stream_write_owned(
        s: *mut dfr_stream,
        buf: *mut c_void,
        len: usize,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_stream_written(s: *mut dfr_stream) -> *mut dfr_deferred;
    pub fn dfr_stream_wait_writable(s: *mut dfr_stream) -> *mut dfr_deferred;
    pub fn dfr_stream_set_watermarks(s: *mut dfr_stream, high: usize, low: usize) -> c_int;
    pub fn dfr_stream_write_buffered(s: *const dfr_stream) -> usize;
    pub fn dfr_stream_close_write(s: *mut dfr_stream) -> c_int;
    pub fn dfr_stream_close(s: *mut dfr_stream) -> c_int;
    pub fn dfr_stream_abort(s: *mut dfr_stream) -> c_int;
    pub fn dfr_stream_is_open(s: *const dfr_stream) -> bool;
    pub fn dfr_stream_reason(s: *const dfr_stream) -> *mut dfr_failure;
    pub fn dfr_stream_read_line(s: *mut dfr_stream, max: usize) -> *mut dfr_deferred;
    pub fn dfr_stream_read_netstring(s: *mut dfr_stream, max: usize) -> *mut dfr_deferred;
    pub fn dfr_stream_write_netstring(s: *mut dfr_stream, buf: *const c_void, len: usize) -> c_int;
    pub fn dfr_stream_set_framed_protocol(
        s: *mut dfr_stream,
        p: *const dfr_framed_protocol,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;

    // ffi_forms.h
    pub fn dfr_value_kind(v: *const dfr_value) -> c_int;
    pub fn dfr_value_type(v: *const dfr_value) -> *const dfr_type;
    pub fn dfr_value_get_i64(v: *const dfr_value) -> i64;
    pub fn dfr_value_get_f64(v: *const dfr_value) -> c_double;
    pub fn dfr_value_get_ptr(v: *const dfr_value) -> *mut c_void;
    pub fn dfr_value_get_bytes(v: *const dfr_value, len: *mut usize) -> *const c_void;
    pub fn dfr_value_set_none(v: *mut dfr_value);
    pub fn dfr_value_set_i64(v: *mut dfr_value, x: i64);
    pub fn dfr_value_set_f64(v: *mut dfr_value, x: c_double);
    pub fn dfr_value_set_ptr(v: *mut dfr_value, p: *mut c_void);
    pub fn dfr_value_set_obj(v: *mut dfr_value, type_: *const dfr_type, p: *mut c_void) -> c_int;
    pub fn dfr_value_set_bytes(v: *mut dfr_value, data: *const c_void, len: usize) -> c_int;
    pub fn dfr_value_set_string(v: *mut dfr_value, s: *const c_char) -> c_int;
    pub fn dfr_value_set_failure(v: *mut dfr_value, f: *mut dfr_failure) -> c_int;
    pub fn dfr_value_set_deferred(v: *mut dfr_value, d: *mut dfr_deferred) -> c_int;
    pub fn dfr_value_set_list(
        v: *mut dfr_value,
        items: *mut dfr_value,
        ok: *const bool,
        n: usize,
    ) -> c_int;
    pub fn dfr_value_move(dst: *mut dfr_value, src: *mut dfr_value);
    pub fn dfr_value_copy(dst: *mut dfr_value, src: *const dfr_value);
    pub fn dfr_list_take_ffi(l: *mut dfr_list, i: usize, out: *mut dfr_value);
    pub fn dfr_failure_new_ffi(
        domain: *const c_char,
        code: c_int,
        message: *const c_char,
    ) -> *mut dfr_failure;
    pub fn dfr_failure_set_payload_ffi(f: *mut dfr_failure, payload: *mut dfr_value) -> c_int;
    pub fn dfr_deferred_add_callbacks_ffi(
        d: *mut dfr_deferred,
        cb: dfr_value_fn,
        eb: dfr_value_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_deferred_add_callback_ffi(
        d: *mut dfr_deferred,
        cb: dfr_value_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_deferred_add_errback_ffi(
        d: *mut dfr_deferred,
        eb: dfr_value_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_deferred_add_both_ffi(
        d: *mut dfr_deferred,
        fn_: dfr_value_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_deferred_callback_ffi(d: *mut dfr_deferred, v: *mut dfr_value) -> c_int;
    pub fn dfr_succeed_ffi(v: *mut dfr_value) -> *mut dfr_deferred;
    pub fn dfr_maybe_deferred_ffi(fn_: dfr_value_fn, data: *mut c_void) -> *mut dfr_deferred;
    pub fn dfr_lock_run_ffi(
        l: *mut dfr_lock,
        fn_: dfr_value_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_deferred;
    pub fn dfr_semaphore_run_ffi(
        s: *mut dfr_semaphore,
        fn_: dfr_value_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_deferred;
    pub fn dfr_queue_put_ffi(q: *mut dfr_queue, v: *mut dfr_value) -> c_int;
    pub fn dfr_reactor_defer_later_ffi(
        r: *mut dfr_reactor,
        delay: c_double,
        fn_: dfr_value_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_deferred;
    pub fn dfr_reactor_add_system_event_trigger_ffi(
        r: *mut dfr_reactor,
        phase: dfr_trigger_phase,
        event: dfr_trigger_event,
        fn_: dfr_value_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
        id: *mut u64,
    ) -> c_int;
    pub fn dfr_deferred_add_timeout_with_ffi(
        d: *mut dfr_deferred,
        r: *mut dfr_reactor,
        seconds: c_double,
        on_timeout: dfr_value_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> c_int;
    pub fn dfr_looping_call_new_ffi(
        r: *mut dfr_reactor,
        fn_: dfr_value_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_looping_call;
    pub fn dfr_reactor_defer_to_thread_ffi(
        r: *mut dfr_reactor,
        fn_: dfr_value_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_deferred;
    pub fn dfr_reactor_defer_to_threadpool_ffi(
        r: *mut dfr_reactor,
        p: *mut dfr_threadpool,
        fn_: dfr_value_fn,
        data: *mut c_void,
        destroy: dfr_destroy_fn,
    ) -> *mut dfr_deferred;
    pub fn dfr_reactor_blocking_call_from_thread_ffi(
        r: *mut dfr_reactor,
        fn_: dfr_value_fn,
        data: *mut c_void,
        out: *mut dfr_value,
    ) -> c_int;

    // ffi.h (ffi_cif and the rest of libffi below)
    pub fn dfr_reactor_defer_call(
        r: *mut dfr_reactor,
        cif: *mut ffi_cif,
        fn_: Option<unsafe extern "C" fn()>,
        args: *mut *mut c_void,
    ) -> *mut dfr_deferred;
}

// ---- libffi (<ffi.h>, which deferred/ffi.h includes): what a caller of
// dfr_reactor_defer_call needs to describe a C function.  Linked from the
// libffi libdeferred uses (found by pkg-config too). ----

/// libffi's type description (`ffi_type`).
#[repr(C)]
#[derive(Debug)]
pub struct ffi_type {
    pub size: usize,
    pub alignment: core::ffi::c_ushort,
    pub type_: core::ffi::c_ushort,
    pub elements: *mut *mut ffi_type,
}

/// libffi's call interface (`ffi_cif`), filled by `ffi_prep_cif`.  The
/// layout of Linux on x86-64 and AArch64 (no FFI_EXTRA_CIF_FIELDS there).
#[repr(C)]
#[derive(Debug)]
pub struct ffi_cif {
    pub abi: ffi_abi,
    pub nargs: c_uint,
    pub arg_types: *mut *mut ffi_type,
    pub rtype: *mut ffi_type,
    pub bytes: c_uint,
    pub flags: c_uint,
}

pub type ffi_abi = c_uint;
pub type ffi_status = c_uint;
pub const FFI_OK: ffi_status = 0;
#[cfg(target_arch = "x86_64")]
pub const FFI_DEFAULT_ABI: ffi_abi = 2; // FFI_UNIX64
#[cfg(target_arch = "aarch64")]
pub const FFI_DEFAULT_ABI: ffi_abi = 1; // FFI_SYSV

extern "C" {
    pub fn ffi_prep_cif(
        cif: *mut ffi_cif,
        abi: ffi_abi,
        nargs: c_uint,
        rtype: *mut ffi_type,
        atypes: *mut *mut ffi_type,
    ) -> ffi_status;
    // Never written by libffi; `static mut` because its API takes `*mut`.
    pub static mut ffi_type_void: ffi_type;
    pub static mut ffi_type_uint8: ffi_type;
    pub static mut ffi_type_sint8: ffi_type;
    pub static mut ffi_type_uint16: ffi_type;
    pub static mut ffi_type_sint16: ffi_type;
    pub static mut ffi_type_uint32: ffi_type;
    pub static mut ffi_type_sint32: ffi_type;
    pub static mut ffi_type_uint64: ffi_type;
    pub static mut ffi_type_sint64: ffi_type;
    pub static mut ffi_type_float: ffi_type;
    pub static mut ffi_type_double: ffi_type;
    pub static mut ffi_type_pointer: ffi_type;
}
