/* The coroutine switch on a CPU we cannot run natively: scripts/test
 * cross-compiles this with the library's core sources for aarch64 and runs
 * it under qemu-user.  Plain C, no Catch2, no libuv.  Exit 0 when every
 * check passed. */
#include <deferred.h>

#include <fenv.h>
#include <stdio.h>

/* The reactor is not linked in: dfr_trim's timer part is a no-op here. */
void dfr__handles_trim(void);
void dfr__handles_trim(void) {}

static int failures;
#define CHECK(cond)                                                   \
    do {                                                              \
        if (!(cond)) {                                                \
            printf("FAILED line %d: %s\n", __LINE__, #cond);          \
            failures++;                                               \
        }                                                             \
    } while (0)

static dfr_deferred *later;

/* Many live values across each switch: callee-saved registers must hold. */
static dfr_value body(void *data)
{
    (void)data;
    volatile int64_t seed = 3;
    int64_t a = seed, b = a * 5, c = b + 7, d = c * 11, e = d - 13, f = e * 17;
    double x = 1.25 * (double)a, y = x * 3.5, z = y - 0.75;
    int64_t s = 0;
    for (int i = 0; i < 1000; i++)
        s += dfr_await(dfr_succeed(dfr_i64(1))).u.i64;
    fesetround(FE_UPWARD);
    dfr_value v = dfr_await(dfr_deferred_ref(later));
    CHECK(fegetround() == FE_UPWARD);
    fesetround(FE_TONEAREST);
    CHECK(dfr_in_coroutine());
    int64_t mixed = a + b + c + d + e + f + (int64_t)(x + y + z);
    return dfr_i64(s + v.u.i64 + mixed);
}

static dfr_value nested(void *data)
{
    int depth = (int)(intptr_t)data;
    if (depth == 0)
        return dfr_await(dfr_deferred_ref(later));
    dfr_value v = dfr_await(dfr_inline_callbacks(nested, (void *)(intptr_t)(depth - 1), NULL));
    return dfr_i64(v.u.i64 + 1);
}

static dfr_value until_cancelled(void *data)
{
    (void)data;
    dfr_value v = dfr_await(dfr_deferred_ref(later));
    int cancelled = dfr_is_failure(v) && dfr_failure_code(dfr_failure_from(&v)) == DFR_ECANCELLED;
    dfr_value_drop(v);
    return dfr_i64(cancelled ? 42 : -1);
}

int main(void)
{
    /* a = 3, b = 15, c = 22, d = 242, e = 229, f = 3893; x + y + z = 3.75 + 13.125 + 12.375 */
    const int64_t mixed = 3 + 15 + 22 + 242 + 229 + 3893 + 29;

    later = dfr_deferred_new();
    dfr_deferred *d = dfr_inline_callbacks(body, NULL, NULL);
    CHECK(fegetround() == FE_TONEAREST);
    CHECK(!dfr_in_coroutine());
    dfr_deferred_callback(later, dfr_i64(10));
    const dfr_value *r = dfr_deferred_result(d);
    CHECK(r && r->u.i64 == 1000 + 10 + mixed);
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);

    later = dfr_deferred_new();
    d = dfr_inline_callbacks(nested, (void *)(intptr_t)100, NULL);
    dfr_deferred_callback(later, dfr_i64(0));
    r = dfr_deferred_result(d);
    CHECK(r && r->u.i64 == 100);
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);

    later = dfr_deferred_new();
    d = dfr_inline_callbacks(until_cancelled, NULL, NULL);
    dfr_deferred_cancel(d);
    r = dfr_deferred_result(d);
    CHECK(r && r->u.i64 == 42);
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);

    dfr_trim();
    printf("coro_smoke: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
