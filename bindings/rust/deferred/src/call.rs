//! deferToThread for a C function (`dfr_reactor_defer_call`, through
//! libffi): the function's Rust pointer type says how to call it, so the
//! call interface is built here and cannot disagree with the arguments.
use crate::deferred::Deferred;
use crate::failure::{ErrorCode, Failure};
use crate::reactor::ReactorRef;
use crate::value::{take_value, RawValue};
use deferred_sys as sys;
use std::ffi::c_void;

mod sealed {
    pub trait Sealed {}
}

/// A C type passed by value as an argument: the integers, `f32`, `f64`
/// and raw pointers (sealed).
pub trait CArg: Copy + sealed::Sealed + 'static {
    #[doc(hidden)]
    fn ffi_type() -> *mut sys::ffi_type;
}

/// A C return type: what [`CArg`] allows, and `()` for void (sealed).  The
/// deferred fires with the value as that Rust type.
pub trait CReturn: sealed::Sealed + Sized + 'static {
    #[doc(hidden)]
    fn ffi_type() -> *mut sys::ffi_type;
    #[doc(hidden)]
    fn from_library(v: RawValue) -> Result<Self, Failure>;
}

macro_rules! c_scalar {
    ($($t:ty => $ffi:ident, $via:ty;)*) => {$(
        impl sealed::Sealed for $t {}
        impl CArg for $t {
            fn ffi_type() -> *mut sys::ffi_type {
                // Only the address of libffi's static type (no access).
                &raw mut sys::$ffi
            }
        }
        impl CReturn for $t {
            fn ffi_type() -> *mut sys::ffi_type {
                <$t as CArg>::ffi_type()
            }
            #[allow(clippy::unnecessary_cast)]
            fn from_library(v: RawValue) -> Result<Self, Failure> {
                // The library widens integers to i64 and floats to f64: the
                // cast gives back the value the function returned.
                Ok(take_value::<$via>(v.into_raw())? as $t)
            }
        }
    )*};
}

c_scalar! {
    i8 => ffi_type_sint8, i64;
    u8 => ffi_type_uint8, i64;
    i16 => ffi_type_sint16, i64;
    u16 => ffi_type_uint16, i64;
    i32 => ffi_type_sint32, i64;
    u32 => ffi_type_uint32, i64;
    i64 => ffi_type_sint64, i64;
    u64 => ffi_type_uint64, i64;
    isize => ffi_type_sint64, i64;
    usize => ffi_type_uint64, i64;
    f32 => ffi_type_float, f64;
    f64 => ffi_type_double, f64;
}

// isize/usize above are 64-bit: the only targets deferred-sys declares.
const _: () = assert!(std::mem::size_of::<usize>() == 8);

fn pointer_from_library(v: RawValue) -> Result<*mut c_void, Failure> {
    let raw = v.as_raw();
    if std::ptr::eq(raw.type_, &raw const sys::dfr_type_ptr) {
        // SAFETY: a ptr value holds its pointer in `u.ptr`.
        Ok(unsafe { raw.u.ptr })
    } else {
        Err(Failure::wrong_type("a C pointer", raw))
    }
}

impl<T: 'static> sealed::Sealed for *const T {}
impl<T: 'static> CArg for *const T {
    fn ffi_type() -> *mut sys::ffi_type {
        &raw mut sys::ffi_type_pointer
    }
}
impl<T: 'static> CReturn for *const T {
    fn ffi_type() -> *mut sys::ffi_type {
        <*const T as CArg>::ffi_type()
    }
    fn from_library(v: RawValue) -> Result<Self, Failure> {
        pointer_from_library(v).map(|p| p.cast_const().cast())
    }
}
impl<T: 'static> sealed::Sealed for *mut T {}
impl<T: 'static> CArg for *mut T {
    fn ffi_type() -> *mut sys::ffi_type {
        &raw mut sys::ffi_type_pointer
    }
}
impl<T: 'static> CReturn for *mut T {
    fn ffi_type() -> *mut sys::ffi_type {
        <*mut T as CArg>::ffi_type()
    }
    fn from_library(v: RawValue) -> Result<Self, Failure> {
        pointer_from_library(v).map(|p| p.cast())
    }
}

impl sealed::Sealed for () {}
impl CReturn for () {
    fn ffi_type() -> *mut sys::ffi_type {
        &raw mut sys::ffi_type_void
    }
    fn from_library(v: RawValue) -> Result<Self, Failure> {
        take_value::<()>(v.into_raw())
    }
}

/// A C function pointer type `defer_call` can call: `extern "C" fn` or
/// `unsafe extern "C" fn` with up to 6 [`CArg`] arguments and a
/// [`CReturn`] result (sealed).  Cast a function to its pointer type:
/// `strlen as unsafe extern "C" fn(*const c_char) -> usize`.
pub trait CFunction: Copy + sealed::Sealed + 'static {
    /// The arguments, as a tuple.
    type Args;
    /// What the function returns.
    type Output: CReturn;
    #[doc(hidden)]
    fn code(self) -> unsafe extern "C" fn();
    #[doc(hidden)]
    fn arg_types() -> Vec<*mut sys::ffi_type>;
    #[doc(hidden)]
    fn arg_pointers(args: &mut Self::Args) -> Vec<*mut c_void>;
}

/// The `CFunction`s that are safe to call (`extern "C" fn`, not `unsafe`):
/// what the safe [`ReactorRef::defer_call`] takes.
pub trait SafeCFunction: CFunction {}

macro_rules! c_function {
    ($($a:ident $v:ident),*) => {
        c_function!(@one [unsafe extern "C" fn($($a),*) -> R] $($a $v),*);
        c_function!(@one [extern "C" fn($($a),*) -> R] $($a $v),*);
        impl<R: CReturn, $($a: CArg),*> SafeCFunction for extern "C" fn($($a),*) -> R {}
    };
    (@one [$($fnty:tt)*] $($a:ident $v:ident),*) => {
        impl<R: CReturn, $($a: CArg),*> sealed::Sealed for $($fnty)* {}
        impl<R: CReturn, $($a: CArg),*> CFunction for $($fnty)* {
            type Args = ($($a,)*);
            type Output = R;
            fn code(self) -> unsafe extern "C" fn() {
                // SAFETY: function pointers have one size; libffi calls it
                // back with its own signature (the cif built from it).
                unsafe { std::mem::transmute::<Self, unsafe extern "C" fn()>(self) }
            }
            fn arg_types() -> Vec<*mut sys::ffi_type> {
                vec![$(<$a as CArg>::ffi_type()),*]
            }
            #[allow(clippy::unused_unit)]
            fn arg_pointers(args: &mut Self::Args) -> Vec<*mut c_void> {
                let ($($v,)*) = args;
                vec![$(std::ptr::from_mut($v).cast::<c_void>()),*]
            }
        }
    };
}

c_function!();
c_function!(A a);
c_function!(A a, B b);
c_function!(A a, B b, C c);
c_function!(A a, B b, C c, D d);
c_function!(A a, B b, C c, D d, E e);
c_function!(A a, B b, C c, D d, E e, G g);

impl ReactorRef {
    /// deferToThread for a C function: call `f(args...)` on the reactor's
    /// pool (through libffi); the deferred fires on the reactor thread with
    /// what it returned.  `f` is a safe `extern "C" fn` pointer, so calling
    /// it with its own argument types is safe; for an `unsafe extern "C"
    /// fn` (a C library's function) see [`defer_call_unchecked`].
    ///
    /// ```
    /// extern "C" fn add(a: i32, b: i64) -> i64 {
    ///     a as i64 + b
    /// }
    /// let r = deferred::Reactor::new()?;
    /// let d = r.defer_call(add as extern "C" fn(i32, i64) -> i64, (40, 2))?;
    /// # drop(d);
    /// # Ok::<(), deferred::Failure>(())
    /// ```
    ///
    /// An `unsafe extern "C" fn` does not compile here:
    /// ```compile_fail
    /// extern "C" { fn abs(x: i32) -> i32; }
    /// let r = deferred::Reactor::new().unwrap();
    /// let _ = r.defer_call(abs as unsafe extern "C" fn(i32) -> i32, (-1,));
    /// ```
    ///
    /// [`defer_call_unchecked`]: ReactorRef::defer_call_unchecked
    pub fn defer_call<F: SafeCFunction>(
        &self,
        f: F,
        args: F::Args,
    ) -> Result<Deferred<F::Output>, Failure> {
        // SAFETY: a safe function may be called with values of its argument
        // types, from any thread (function pointers are Send and Sync).
        unsafe { self.defer_call_unchecked(f, args) }
    }

    /// [`defer_call`](ReactorRef::defer_call) for any C function pointer,
    /// `unsafe extern "C" fn` included.  The arguments are copied at once;
    /// cancelling or dropping the deferred does not stop the call.
    ///
    /// # Safety
    /// Calling `f` with `args` must be sound on a pool thread, at any time
    /// until it has run, concurrently with the reactor thread: the
    /// arguments meet `f`'s contract, memory that pointer arguments point to
    /// stays valid (and is not used in a conflicting way elsewhere) until
    /// the deferred has fired, whatever `f` touches is thread-safe, and `f`
    /// does not unwind.
    pub unsafe fn defer_call_unchecked<F: CFunction>(
        &self,
        f: F,
        mut args: F::Args,
    ) -> Result<Deferred<F::Output>, Failure> {
        let r = self.raw()?;
        let mut types = F::arg_types();
        let mut ptrs = F::arg_pointers(&mut args);
        let mut cif = std::mem::MaybeUninit::<sys::ffi_cif>::zeroed();
        // SAFETY: the types are libffi's static ones, as many as the
        // arguments; prep_cif fills the cif.
        let st = unsafe {
            sys::ffi_prep_cif(
                cif.as_mut_ptr(),
                sys::FFI_DEFAULT_ABI,
                types.len() as std::ffi::c_uint,
                <F::Output as CReturn>::ffi_type(),
                types.as_mut_ptr(),
            )
        };
        if st != sys::FFI_OK {
            return Err(Failure::from_code(ErrorCode::Invalid));
        }
        // SAFETY: a live reactor on its thread; a prepared cif whose types
        // match `ptrs`, which point into `args` (copied by the call); the
        // caller vouches for calling `f` (see above).
        let d = unsafe {
            sys::dfr_reactor_defer_call(r, cif.as_mut_ptr(), Some(f.code()), ptrs.as_mut_ptr())
        };
        if d.is_null() {
            // The input is right by construction: only OOM is left.
            return Err(Failure::from_code(ErrorCode::NoMemory));
        }
        // SAFETY: our reference; its chain produces the library's value of
        // the return type, read as a RawValue and converted below.
        let raw: Deferred<RawValue> = unsafe { Deferred::from_raw(d) };
        Ok(raw.add_callback(<F::Output as CReturn>::from_library))
    }
}
