//! defer_call: C functions called on the pool through libffi, typed by
//! their Rust pointer types; results converted back; errors.
mod common;
use common::pump;
use deferred::{Deferred, ErrorCode, Failure, Reactor};
use std::cell::RefCell;
use std::ffi::c_char;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

extern "C" fn add(a: i32, b: i64) -> i64 {
    a as i64 + b
}
extern "C" fn scale(x: f64, k: f32) -> f64 {
    x * k as f64
}
extern "C" fn half(x: f32) -> f32 {
    x / 2.0
}
extern "C" fn same_u64(x: u64) -> u64 {
    x
}
extern "C" fn negate(x: i8) -> i8 {
    -x
}
extern "C" fn low_byte(x: u32) -> u8 {
    x as u8
}
extern "C" fn sum6(a: u8, b: i16, c: u32, d: i64, e: usize, g: f64) -> f64 {
    a as f64 + b as f64 + c as f64 + d as f64 + e as f64 + g
}
static TICKS: AtomicUsize = AtomicUsize::new(0);
extern "C" fn tick(by: usize) {
    TICKS.fetch_add(by, Ordering::SeqCst);
}
extern "C" fn on_the_test_thread() -> u8 {
    (std::thread::current().id() == *MAIN.get().unwrap()) as u8
}
static MAIN: std::sync::OnceLock<std::thread::ThreadId> = std::sync::OnceLock::new();
static DATA: [u8; 4] = *b"abc\0";
extern "C" fn second(p: *const u8) -> *const u8 {
    p.wrapping_add(1)
}
extern "C" {
    fn strlen(s: *const c_char) -> usize;
}

fn wait<T: 'static>(r: &Reactor, d: Deferred<T>) -> Result<T, Failure> {
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    drop(d.add_both(move |x| {
        *s.borrow_mut() = Some(x);
        Ok(())
    }));
    pump(r, || seen.borrow().is_some());
    let x = seen.borrow_mut().take().unwrap();
    x
}

#[test]
fn calls_return_their_values_typed() {
    let r = Reactor::new().unwrap();
    let d = r
        .defer_call(add as extern "C" fn(i32, i64) -> i64, (40, 2))
        .unwrap();
    assert_eq!(wait(&r, d).unwrap(), 42);
    let d = r
        .defer_call(scale as extern "C" fn(f64, f32) -> f64, (1.5, 4.0))
        .unwrap();
    assert_eq!(wait(&r, d).unwrap(), 6.0);
    let d = r
        .defer_call(half as extern "C" fn(f32) -> f32, (5.0,))
        .unwrap();
    assert_eq!(wait(&r, d).unwrap(), 2.5f32);
    let d = r
        .defer_call(same_u64 as extern "C" fn(u64) -> u64, (u64::MAX,))
        .unwrap();
    assert_eq!(wait(&r, d).unwrap(), u64::MAX);
    let d = r
        .defer_call(negate as extern "C" fn(i8) -> i8, (5,))
        .unwrap();
    assert_eq!(wait(&r, d).unwrap(), -5);
    let d = r
        .defer_call(low_byte as extern "C" fn(u32) -> u8, (0x1ff,))
        .unwrap();
    assert_eq!(wait(&r, d).unwrap(), 0xff);
    type Six = extern "C" fn(u8, i16, u32, i64, usize, f64) -> f64;
    let d = r.defer_call(sum6 as Six, (1, -2, 3, -4, 5, 0.5)).unwrap();
    assert_eq!(wait(&r, d).unwrap(), 3.5);
    let d = r.defer_call(tick as extern "C" fn(usize), (3,)).unwrap();
    wait(&r, d).unwrap();
    assert_eq!(TICKS.load(Ordering::SeqCst), 3);
    let p = DATA.as_ptr();
    let d = r
        .defer_call(second as extern "C" fn(*const u8) -> *const u8, (p,))
        .unwrap();
    assert_eq!(wait(&r, d).unwrap(), p.wrapping_add(1));
}

#[test]
fn an_unsafe_c_function_through_defer_call_unchecked() {
    let r = Reactor::new().unwrap();
    let s = c"hello, pool";
    // SAFETY: strlen reads a NUL-terminated string that is static, from
    // any thread.
    let d = unsafe {
        r.defer_call_unchecked(
            strlen as unsafe extern "C" fn(*const c_char) -> usize,
            (s.as_ptr(),),
        )
    }
    .unwrap();
    assert_eq!(wait(&r, d).unwrap(), 11);
}

#[test]
fn it_runs_on_a_pool_thread() {
    MAIN.get_or_init(|| std::thread::current().id());
    let r = Reactor::new().unwrap();
    let d = r
        .defer_call(on_the_test_thread as extern "C" fn() -> u8, ())
        .unwrap();
    assert_eq!(wait(&r, d).unwrap(), 0);
}

#[test]
fn errors_are_results() {
    let r = Reactor::new().unwrap();
    let h = r.handle_local();
    // Cancelled: fails at once (the call still runs, its result dropped).
    let d = r
        .defer_call(add as extern "C" fn(i32, i64) -> i64, (1, 1))
        .unwrap();
    d.cancel();
    let e = wait(&r, d).unwrap_err();
    assert_eq!(e.kind(), Some(ErrorCode::Cancelled));
    drop(r);
    let e = h
        .defer_call(add as extern "C" fn(i32, i64) -> i64, (1, 1))
        .unwrap_err();
    assert_eq!(e.kind(), Some(ErrorCode::NotRunning));
}
