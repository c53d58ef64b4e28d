/* "Generating Deferreds": largeFibonacciNumber, two ways, with the reactor
 * running.  A LoopingCall ticks every 10 ms to show whether the reactor is
 * free: computing on the reactor thread blocks it (no ticks while the work
 * runs); dfr_reactor_defer_to_thread keeps it ticking and delivers the answer to a
 * callback on the reactor thread. */
#include <deferred.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TARGET 10000
#define REPEAT 40 /* long enough to see; the answer is the same each time */

/* The TARGETth Fibonacci number in decimal, base-1e9 limbs, little-endian. */
typedef struct bignum {
    unsigned n;
    unsigned limb[300]; /* fib(10000) has 2090 digits: 233 limbs */
} bignum;

static void add(bignum *out, const bignum *a, const bignum *b)
{
    unsigned long long carry = 0;
    unsigned n = a->n > b->n ? a->n : b->n;
    for (unsigned i = 0; i < n; i++) {
        unsigned long long s = carry + (i < a->n ? a->limb[i] : 0) + (i < b->n ? b->limb[i] : 0);
        out->limb[i] = (unsigned)(s % 1000000000ull);
        carry = s / 1000000000ull;
    }
    out->n = n;
    if (carry)
        out->limb[out->n++] = (unsigned)carry;
}

static char *large_fibonacci_number(void)
{
    static bignum f[3];
    for (int rep = 0; rep < REPEAT; rep++) {
        f[0] = (bignum){1, {0}};
        f[1] = (bignum){1, {1}};
        for (int i = 0; i < TARGET - 1; i++)
            add(&f[(i + 2) % 3], &f[i % 3], &f[(i + 1) % 3]);
    }
    const bignum *r = &f[TARGET % 3];
    char *text = malloc(r->n * 9 + 1);
    char *p = text + sprintf(text, "%u", r->limb[r->n - 1]);
    for (unsigned i = r->n - 1; i-- > 0;)
        p += sprintf(p, "%09u", r->limb[i]);
    return text;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int ticks;
static dfr_reactor *reactor;

static dfr_value tick(void *data)
{
    (void)data;
    ticks++;
    return dfr_none();
}

static void print_number(const char *how, const char *digits, int ticks_meanwhile, double seconds)
{
    size_t len = strlen(digits);
    printf("%s: the %dth Fibonacci number has %zu digits: %.20s...%s\n", how, TARGET, len, digits,
           digits + len - 10);
    printf("%s: %.0f ms of work, the reactor ticked %d times meanwhile\n", how, seconds * 1000,
           ticks_meanwhile);
}

/* Blocking: the computation runs on the reactor thread. */
static int ticks_before;
static double started;

static dfr_value fibonacci_task(void *data)
{
    (void)data;
    return dfr_ptr(large_fibonacci_number());
}

static dfr_value thread_done(dfr_value v, void *data)
{
    (void)data;
    char *digits = v.u.ptr;
    print_number("deferToThread", digits, ticks - ticks_before, now() - started);
    free(digits);
    dfr_reactor_stop(reactor);
    return dfr_none();
}

static void in_a_thread(void *data)
{
    (void)data;
    ticks_before = ticks;
    started = now();
    dfr_deferred *d = dfr_reactor_defer_to_thread(reactor, fibonacci_task, NULL, NULL);
    dfr_deferred_add_callback(d, thread_done, NULL, NULL);
    printf("deferToThread: returned at once; the reactor keeps ticking\n");
    dfr_deferred_unref(d);
}

static void blocking(void *data)
{
    (void)data;
    ticks_before = ticks;
    started = now();
    char *digits = large_fibonacci_number();
    dfr_deferred *d = dfr_succeed(dfr_ptr(digits));
    printf("blocking: the call returned only after the work was done\n");
    print_number("blocking", digits, ticks - ticks_before, now() - started);
    free(digits);
    dfr_deferred_unref(d);
    /* Give the reactor a moment, then do it the non-blocking way. */
    dfr_reactor_call_later(reactor, 0.05, in_a_thread, NULL, NULL, NULL);
}

int main(void)
{
    reactor = dfr_reactor_new(NULL);
    dfr_looping_call *lc = dfr_looping_call_new(reactor, tick, NULL, NULL);
    dfr_deferred *loop = dfr_looping_call_start(lc, 0.01, true);
    dfr_reactor_call_later(reactor, 0.05, blocking, NULL, NULL, NULL);
    int rc = dfr_reactor_run(reactor);
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(loop);
    dfr_reactor_free(reactor);
    dfr_trim();
    return rc == 0 ? 0 : 1;
}
