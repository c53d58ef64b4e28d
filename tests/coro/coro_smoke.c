/* The coroutine switch on a CPU we cannot run natively: scripts/test
 * cross-compiles this with the library's core sources for aarch64 and runs
 * it under qemu-user.  Plain C, no Catch2, no libuv.  Exit 0 when every
 * check passed. */
#include <deferred.h>

#include <fenv.h>
#include <stdio.h>

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

/* Two coroutines: A, resumed from main, resumes B directly each time; B
 * counts what it gets.  Contexts saved by a resume nest here. */
static dfr_deferred *to_a, *to_b;
static int64_t b_sum;
static uint64_t a_kept; /* unsigned: the mixing wraps */
static int a_rc;

static dfr_value relay_b(void *data)
{
    (void)data;
    for (;;) {
        to_b = dfr_deferred_new();
        dfr_value v = dfr_await(dfr_deferred_ref(to_b));
        if (v.u.i64 < 0)
            return dfr_i64(b_sum);
        b_sum += v.u.i64;
    }
}

static dfr_value relay_a(void *data)
{
    (void)data;
    fesetround(FE_DOWNWARD);
    volatile uint64_t in = 1000;
    uint64_t k0 = in, k1 = k0 * 7, k2 = k0 ^ 0x5a5a, k3 = k0 + 13;
    for (int64_t i = 0;; i++) {
        to_a = dfr_deferred_new();
        dfr_value v = dfr_await(dfr_deferred_ref(to_a));
        dfr_deferred *b_waits = to_b;
        a_rc |= dfr_deferred_callback(b_waits, dfr_i64(v.u.i64 < 0 ? -1 : v.u.i64 * 10));
        dfr_deferred_unref(b_waits);
        k0 += k1, k1 ^= k2, k2 -= k3, k3 += k0 + (uint64_t)i;
        if (v.u.i64 < 0)
            break;
    }
    a_kept = k0 + k1 + k2 + k3 + (fegetround() == FE_DOWNWARD ? 0u : 1u);
    fesetround(FE_TONEAREST);
    return dfr_none();
}

static void relay_check(void)
{
    dfr_deferred *b = dfr_inline_callbacks(relay_b, NULL, NULL);
    dfr_deferred *a = dfr_inline_callbacks(relay_a, NULL, NULL);
    volatile uint64_t in = 7;
    uint64_t m0 = in, m1 = m0 * 3, m2 = m0 ^ 77, m3 = m0 - 5; /* live across each fire */
    int rc = 0;
    for (int64_t i = 0; i <= 1000; i++) {
        dfr_deferred *w = to_a;
        rc |= dfr_deferred_callback(w, dfr_i64(i == 1000 ? -1 : i));
        dfr_deferred_unref(w);
        m0 += m1, m1 ^= m2, m2 -= m3, m3 += m0;
    }
    CHECK(rc == 0 && a_rc == 0);
    CHECK(fegetround() == FE_TONEAREST);
    uint64_t e0 = 7, e1 = e0 * 3, e2 = e0 ^ 77, e3 = e0 - 5, k0 = 1000, k1 = k0 * 7,
             k2 = k0 ^ 0x5a5a, k3 = k0 + 13;
    for (int64_t i = 0; i <= 1000; i++) {
        e0 += e1, e1 ^= e2, e2 -= e3, e3 += e0;
        k0 += k1, k1 ^= k2, k2 -= k3, k3 += k0 + (uint64_t)i;
    }
    CHECK(m0 == e0 && m1 == e1 && m2 == e2 && m3 == e3);
    CHECK(a_kept == k0 + k1 + k2 + k3);
    const dfr_value *r = dfr_deferred_result(b);
    CHECK(r && r->u.i64 == 10 * (999 * 1000 / 2));
    CHECK(dfr_deferred_state(a) == DFR_SUCCEEDED);
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
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

    relay_check();

    dfr_trim();
    printf("coro_smoke: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
