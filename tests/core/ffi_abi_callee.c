/* Half of the FFI calling-convention check (ffi_abi_caller.c has the other
 * half): these functions use the header's dfr_value, with its union; the
 * caller declares them with the union-free FFI struct.  Compiled apart, so
 * neither compiler sees both types: registers decide. */
#include <deferred/value.h>

#include <string.h>

dfr_value ffi_abi_twice(dfr_value v, void *data);
dfr_value ffi_abi_call(dfr_value (*cb)(dfr_value, void *), dfr_value v, void *data);
double ffi_abi_f64_of(dfr_value v);
dfr_value ffi_abi_make_f64(double x, const dfr_type *t);

/* Both views of the second word: i64 doubled, f64 negated. */
dfr_value ffi_abi_twice(dfr_value v, void *data)
{
    if (data)
        v.u.f64 = -v.u.f64;
    else
        v.u.i64 *= 2;
    return v;
}

/* A callback of the FFI's own making, called as the library calls one. */
dfr_value ffi_abi_call(dfr_value (*cb)(dfr_value, void *), dfr_value v, void *data)
{
    return cb(v, data);
}

double ffi_abi_f64_of(dfr_value v)
{
    return v.u.f64;
}

dfr_value ffi_abi_make_f64(double x, const dfr_type *t)
{
    dfr_value v;
    v.type = t;
    v.u.f64 = x;
    return v;
}
