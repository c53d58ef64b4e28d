//! How Rust values travel through C chains.
//!
//! `i64`, `f64`, `()`, `String` and `Vec<u8>` map to the library's own value
//! types (i64, f64, none, bytes), so C code reads them.  Any other `T:
//! 'static` travels boxed as a value of the library type `"rust"`, whose drop
//! hook drops the Rust value exactly once, wherever the library lets go of it
//! (fired, cancelled, discarded, freed unfired, queue freed...).  Reading a
//! value checks its type: a mismatch is a `RUST_WRONG_TYPE` failure, never UB.
//! `RawValue` holds any library value as is.
use crate::failure::Failure;
use deferred_sys as sys;
use std::any::{Any, TypeId};
use std::ffi::{c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

#[repr(C)]
struct Header {
    type_id: TypeId,
    drop: unsafe fn(*mut Header),
}

// Header first: the drop hook and the type check read it without knowing T.
#[repr(C)]
struct Slot<T> {
    hdr: Header,
    value: T,
}

/// # Safety
/// `h` comes from `Box::<Slot<T>>::into_raw` and is dropped once.
unsafe fn drop_slot<T>(h: *mut Header) {
    // SAFETY: per the contract above.
    drop(unsafe { Box::from_raw(h.cast::<Slot<T>>()) });
}

unsafe extern "C" fn rust_drop(p: *mut c_void) {
    let h = p.cast::<Header>();
    // SAFETY: p is the pointer of a "rust" value, dropped once by the library.
    drop_guarded(|| unsafe { ((*h).drop)(h) });
}

/// Runs a drop the library asked for (a value's or a closure's).  A panic
/// must not unwind into C, and cannot become a failure (no chain waits for
/// a drop): it is reported on stderr, as an unhandled error is, and the
/// program goes on (the box itself is freed by the unwind).
pub(crate) fn drop_guarded(f: impl FnOnce()) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
        let f = Failure::panic(p);
        eprintln!("Unhandled error in a drop run by libdeferred: {f}");
    }
}

struct TypeCell(sys::dfr_type);
// SAFETY: immutable after initialisation; the name points to a static string.
unsafe impl Sync for TypeCell {}

static RUST_TYPE: TypeCell = TypeCell(sys::dfr_type {
    size: std::mem::size_of::<sys::dfr_type>(),
    name: c"rust".as_ptr(),
    drop: Some(rust_drop),
    clone: None,
});

/// The header's `static inline` constructors and predicates, in Rust (the
/// exported symbols of the same name would cost a call each on hot paths).
pub(crate) mod raw {
    use deferred_sys as sys;

    #[inline]
    pub fn none() -> sys::dfr_value {
        sys::dfr_value {
            type_: std::ptr::null(),
            u: sys::dfr_value_u { i64: 0 },
        }
    }
    #[inline]
    pub fn with(type_: *const sys::dfr_type, u: sys::dfr_value_u) -> sys::dfr_value {
        sys::dfr_value { type_, u }
    }
    #[inline]
    pub fn i64(x: i64) -> sys::dfr_value {
        with(&raw const sys::dfr_type_i64, sys::dfr_value_u { i64: x })
    }
    #[inline]
    pub fn f64(x: f64) -> sys::dfr_value {
        with(&raw const sys::dfr_type_f64, sys::dfr_value_u { f64: x })
    }
    #[inline]
    pub fn failure(f: *mut sys::dfr_failure) -> sys::dfr_value {
        with(
            &raw const sys::dfr_type_failure,
            sys::dfr_value_u { ptr: f.cast() },
        )
    }
    #[inline]
    pub fn deferred(d: *mut sys::dfr_deferred) -> sys::dfr_value {
        with(
            &raw const sys::dfr_type_deferred,
            sys::dfr_value_u { ptr: d.cast() },
        )
    }
    #[inline]
    pub fn is_failure(v: &sys::dfr_value) -> bool {
        std::ptr::eq(v.type_, &raw const sys::dfr_type_failure)
    }
    #[inline]
    pub fn is_i64(v: &sys::dfr_value) -> bool {
        std::ptr::eq(v.type_, &raw const sys::dfr_type_i64)
    }
    #[inline]
    pub fn is_f64(v: &sys::dfr_value) -> bool {
        std::ptr::eq(v.type_, &raw const sys::dfr_type_f64)
    }
    #[inline]
    pub fn is_list(v: &sys::dfr_value) -> bool {
        std::ptr::eq(v.type_, &raw const sys::dfr_type_list)
    }
    #[inline]
    pub fn is_bytes(v: &sys::dfr_value) -> bool {
        std::ptr::eq(v.type_, &raw const sys::dfr_type_bytes)
    }
}

/// The library value type of boxed Rust values (name `"rust"`).
pub fn rust_type() -> *const sys::dfr_type {
    &RUST_TYPE.0
}

/// An owned library value of any type (for values C produced that this crate
/// does not map, e.g. pointers or lists).  Dropping it drops the value.
pub struct RawValue(sys::dfr_value);

impl RawValue {
    /// # Safety
    /// `v` is a valid value whose ownership moves in.
    pub unsafe fn from_raw(v: sys::dfr_value) -> RawValue {
        RawValue(v)
    }
    /// Gives the value away.
    pub fn into_raw(self) -> sys::dfr_value {
        let v = self.0;
        std::mem::forget(self);
        v
    }
    /// Borrowed.
    pub fn as_raw(&self) -> &sys::dfr_value {
        &self.0
    }
    /// The library type's name ("none", "i64", "rust", ...).
    pub fn type_name(&self) -> String {
        type_name(&self.0)
    }
}

impl Drop for RawValue {
    fn drop(&mut self) {
        // SAFETY: we own the value.
        unsafe { sys::dfr_value_drop(self.0) }
    }
}

impl std::fmt::Debug for RawValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawValue({})", self.type_name())
    }
}

/// A library list value, as C's DeferredList and gatherResults make them:
/// entries of (ok, value).  `Deferred<List>` reads one.
#[derive(Debug)]
pub struct List(RawValue);

impl List {
    fn list(&self) -> *mut sys::dfr_list {
        // SAFETY: a list value we own.
        unsafe { sys::dfr_list_from(self.0.as_raw()) }
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        // SAFETY: a valid list.
        unsafe { sys::dfr_list_len(self.list()) }
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether entry `i` succeeded (false out of range).
    pub fn ok(&self, i: usize) -> bool {
        // SAFETY: a valid list; out of range reads false.
        unsafe { sys::dfr_list_ok(self.list(), i) }
    }
    /// Move entry `i` out as a `T`, leaving none behind: a failed entry
    /// gives its failure, another type a `RUST_WRONG_TYPE` failure, out of
    /// range `Invalid`.
    pub fn take<T: 'static>(&mut self, i: usize) -> Result<T, Failure> {
        if i >= self.len() {
            return Err(Failure::from_code(crate::ErrorCode::Invalid));
        }
        // SAFETY: a valid list we own; the entry's ownership moves to us.
        take_value::<T>(unsafe { sys::dfr_list_take(self.list(), i) })
    }
}

pub(crate) fn type_name(v: &sys::dfr_value) -> String {
    if v.type_.is_null() {
        return "none".into();
    }
    // SAFETY: a non-NULL type pointer of a valid value points to a dfr_type.
    let name = unsafe { (*v.type_).name };
    if name.is_null() {
        return "unnamed".into();
    }
    // SAFETY: type names are static C strings.
    unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// Moves `u` into a `T` when they are the same type (the check is a
/// TypeId comparison the compiler folds).
fn cast<U: 'static, T: 'static>(u: U) -> Result<T, U> {
    let mut slot = Some(u);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<T>>() {
        Some(t) => Ok(t.take().expect("just filled")),
        None => Err(slot.expect("untouched")),
    }
}

fn is<T: 'static, U: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<U>()
}

/// A Rust value as a library value (ownership moves into the value).
pub fn into_value<T: 'static>(t: T) -> sys::dfr_value {
    let t = match cast::<T, i64>(t) {
        Ok(x) => return raw::i64(x),
        Err(t) => t,
    };
    let t = match cast::<T, f64>(t) {
        Ok(x) => return raw::f64(x),
        Err(t) => t,
    };
    if is::<T, ()>() {
        return raw::none();
    }
    let t = match cast::<T, String>(t) {
        Ok(s) => return bytes(s.as_bytes()),
        Err(t) => t,
    };
    let t = match cast::<T, Vec<u8>>(t) {
        Ok(b) => return bytes(&b),
        Err(t) => t,
    };
    let t = match cast::<T, RawValue>(t) {
        Ok(r) => return r.into_raw(),
        Err(t) => t,
    };
    let t = match cast::<T, List>(t) {
        Ok(l) => return l.0.into_raw(),
        Err(t) => t,
    };
    let slot = Box::new(Slot {
        hdr: Header {
            type_id: TypeId::of::<T>(),
            drop: drop_slot::<T>,
        },
        value: t,
    });
    // The value owns the box; rust_drop frees it.
    raw::with(
        rust_type(),
        sys::dfr_value_u {
            ptr: Box::into_raw(slot).cast(),
        },
    )
}

fn bytes(b: &[u8]) -> sys::dfr_value {
    // SAFETY: b is valid for b.len() bytes; the library copies them.
    let v = unsafe { sys::dfr_bytes_new(b.as_ptr().cast(), b.len()) };
    if raw::is_failure(&v) {
        std::alloc::handle_alloc_error(std::alloc::Layout::for_value(b));
    }
    v
}

/// Borrow the Rust `T` inside a `"rust"` value, if it holds one.
///
/// # Safety
/// `v` is a valid value that outlives the returned reference.
pub(crate) unsafe fn peek<T: 'static>(v: &sys::dfr_value) -> Option<&T> {
    if v.type_ != rust_type() {
        return None;
    }
    // SAFETY: "rust" values point to a Slot whose header comes first.
    let h = unsafe { &*(v.u.ptr as *const Header) };
    if h.type_id != TypeId::of::<T>() {
        return None;
    }
    // SAFETY: the TypeId matches, so this is a Slot<T>.
    Some(unsafe { &(*(v.u.ptr as *const Slot<T>)).value })
}

/// A library value as a Rust `T` (the value is consumed either way).  A
/// failure value gives that failure; any other mismatch a `RUST_WRONG_TYPE`
/// failure.
///
/// # Safety
/// `v` is a valid library value whose ownership moves in (from
/// [`into_value`], [`RawValue::into_raw`] or C code): its fields are
/// dereferenced, so a value made up in Rust (`sys::dfr_value` has public
/// fields) must not reach it.
///
/// ```compile_fail
/// use deferred::{sys, value};
/// let forged = sys::dfr_value {
///     type_: value::rust_type(),
///     u: sys::dfr_value_u { ptr: 16 as *mut _ },
/// };
/// let _ = value::from_value::<String>(forged); // needs `unsafe`
/// ```
pub unsafe fn from_value<T: 'static>(v: sys::dfr_value) -> Result<T, Failure> {
    take_value(v)
}

/// `from_value` for values this crate got from the library (valid and
/// owned by construction).
pub(crate) fn take_value<T: 'static>(v: sys::dfr_value) -> Result<T, Failure> {
    if raw::is_failure(&v) && !is::<T, RawValue>() {
        // SAFETY: a failure value owns one reference, which moves to Failure.
        return Err(unsafe { Failure::from_raw(v.u.ptr.cast()) });
    }
    if is::<T, RawValue>() {
        // SAFETY: ownership of v moves into the RawValue.
        return Ok(cast::<RawValue, T>(unsafe { RawValue::from_raw(v) })
            .ok()
            .unwrap());
    }
    if v.type_ == rust_type() {
        // SAFETY: "rust" values point to a Slot whose header comes first.
        let h = unsafe { v.u.ptr } as *mut Header;
        // SAFETY: as above.
        if unsafe { (*h).type_id } == TypeId::of::<T>() {
            // SAFETY: matching TypeId: a Slot<T> we own; the box is freed
            // without running the value's drop twice (we move it out).
            let slot = unsafe { Box::from_raw(h.cast::<Slot<T>>()) };
            return Ok(slot.value);
        }
        return Err(wrong(v, std::any::type_name::<T>()));
    }
    // SAFETY (the whole block): reading tags and fields of a value we own.
    unsafe {
        if is::<T, i64>() && raw::is_i64(&v) {
            return Ok(cast::<i64, T>(v.u.i64).ok().unwrap());
        }
        if is::<T, f64>() && raw::is_f64(&v) {
            return Ok(cast::<f64, T>(v.u.f64).ok().unwrap());
        }
        if is::<T, List>() && raw::is_list(&v) {
            return Ok(cast::<List, T>(List(RawValue(v))).ok().unwrap());
        }
        if is::<T, ()>() && v.type_.is_null() {
            return Ok(cast::<(), T>(()).ok().unwrap());
        }
        if (is::<T, String>() || is::<T, Vec<u8>>()) && raw::is_bytes(&v) {
            let p = sys::dfr_bytes_data(&v).cast::<u8>();
            let n = sys::dfr_bytes_len(&v);
            let b = if n == 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(p, n).to_vec()
            };
            if is::<T, Vec<u8>>() {
                sys::dfr_value_drop(v);
                return Ok(cast::<Vec<u8>, T>(b).ok().unwrap());
            }
            return match String::from_utf8(b) {
                Ok(s) => {
                    sys::dfr_value_drop(v);
                    Ok(cast::<String, T>(s).ok().unwrap())
                }
                Err(_) => Err(wrong(v, "String (the bytes are not UTF-8)")),
            };
        }
    }
    Err(wrong(v, std::any::type_name::<T>()))
}

fn wrong(v: sys::dfr_value, expected: &str) -> Failure {
    let f = Failure::wrong_type(expected, &v);
    // SAFETY: we own v and no longer need it.
    unsafe { sys::dfr_value_drop(v) };
    f
}

/// `Ok(t)` as a value, `Err(f)` as a failure value.
pub(crate) fn result_into_value<T: 'static>(r: Result<T, Failure>) -> sys::dfr_value {
    match r {
        Ok(t) => into_value(t),
        // The failure's reference moves into the value.
        Err(f) => raw::failure(f.into_raw()),
    }
}

/// Runs `f`, turning a panic into a `RUST_PANIC` failure: no unwinding ever
/// reaches a C frame.
pub(crate) fn guard<R>(f: impl FnOnce() -> Result<R, Failure>) -> Result<R, Failure> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(Failure::panic(p)),
    }
}

/// Destroy hook for a `Box<D>` handed to C as `data` (a panic while
/// dropping is reported: see `drop_guarded`).
pub(crate) unsafe extern "C" fn drop_box<D>(data: *mut c_void) {
    // SAFETY: data came from Box::<D>::into_raw and the library calls the
    // destroy hook exactly once.
    drop_guarded(|| drop(unsafe { Box::from_raw(data.cast::<D>()) }));
}

/// Runs `f` producing a value, turning a panic into a failure value.
pub(crate) fn guard_value(f: impl FnOnce() -> sys::dfr_value) -> sys::dfr_value {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => result_into_value::<()>(Err(Failure::panic(p))),
    }
}

/// How a run-once closure travels as a C callback's `data`: boxed as an
/// `Option<F>` (taken when it runs, the box freed by the destroy hook), or —
/// for a closure that captures nothing — not at all: no allocation, no
/// destroy hook (a deferred_cycle with such a closure allocates nothing in
/// Rust).
pub(crate) struct Once<F>(std::marker::PhantomData<F>);

impl<F> Once<F> {
    const INLINE: bool = std::mem::size_of::<F>() == 0 && !std::mem::needs_drop::<F>();

    /// `data` and `destroy` for the C call.
    pub(crate) fn into_data(f: F) -> (*mut c_void, sys::dfr_destroy_fn) {
        if Self::INLINE {
            // A zero-sized value without drop glue: it "moves" into C as
            // nothing, and `take` moves it back.
            std::mem::forget(f);
            (std::ptr::NonNull::<F>::dangling().as_ptr().cast(), None)
        } else {
            (
                Box::into_raw(Box::new(Some(f))).cast(),
                Some(drop_box::<Option<F>>),
            )
        }
    }

    /// The closure, the first time; `None` afterwards (boxed form).
    ///
    /// # Safety
    /// `data` comes from `into_data::<F>` and its destroy hook has not run;
    /// in the inline form the library calls the callback at most once.
    pub(crate) unsafe fn take(data: *mut c_void) -> Option<F> {
        if Self::INLINE {
            // SAFETY: reading a zero-sized value from an aligned, non-null
            // pointer; this is the value forgotten in into_data.
            Some(unsafe { std::ptr::read(data.cast::<F>()) })
        } else {
            // SAFETY: our Box<Option<F>>, alive until its destroy hook.
            unsafe { &mut *data.cast::<Option<F>>() }.take()
        }
    }
}
