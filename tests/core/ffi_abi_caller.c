/* The FFI calling-convention check: the union-free declaration an FFI uses
 * (DFR_VALUE_FFI_DECL) passes and returns dfr_value in the same registers as
 * the header's union, in both directions (ffi_abi_callee.c defines the
 * functions with the union).  Built and run natively and for aarch64 under
 * qemu by scripts/test; exits 0 when every check holds. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct ffi_value {
    const void *type;
    int64_t bits;
} ffi_value;

ffi_value ffi_abi_twice(ffi_value v, void *data);
ffi_value ffi_abi_call(ffi_value (*cb)(ffi_value, void *), ffi_value v, void *data);
double ffi_abi_f64_of(ffi_value v);
ffi_value ffi_abi_make_f64(double x, const void *t);

static int failures;
#define CHECK(c) ((c) ? (void)0 : (void)(failures++, printf("FAILED: %s\n", #c)))

static int64_t bits_of(double d)
{
    int64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static double double_of(int64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static ffi_value plus_three(ffi_value v, void *data)
{
    v.bits += 3 + (int64_t)(intptr_t)data;
    return v;
}

int main(void)
{
    static const char tag = 't';
    ffi_value v = {&tag, 21};
    ffi_value r = ffi_abi_twice(v, NULL);
    CHECK(r.type == &tag);
    CHECK(r.bits == 42);

    v.bits = bits_of(1.25);
    r = ffi_abi_twice(v, (void *)&tag); /* non-NULL: the f64 view */
    CHECK(double_of(r.bits) == -1.25);
    CHECK(ffi_abi_f64_of(v) == 1.25);
    r = ffi_abi_make_f64(-0.5, &tag);
    CHECK(r.type == &tag && double_of(r.bits) == -0.5);

    v.bits = 1;
    r = ffi_abi_call(plus_three, v, (void *)(intptr_t)10);
    CHECK(r.type == &tag);
    CHECK(r.bits == 14);
    if (failures)
        return 1;
    printf("ffi abi: ok\n");
    return 0;
}
