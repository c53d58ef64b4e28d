/* "Generating Deferreds", What Deferreds don't do: make your code
 * asynchronous.  largeFibonacciNumber returns a deferred, but computes the
 * answer before returning it: the call blocks, and the callback is added
 * only after the work is done.  (fibonacci_reactor.c shows the cure:
 * dfr_reactor_defer_to_thread.) */
#include <deferred.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TARGET 10000

/* Decimal bignum: base-1e9 limbs, little-endian.  fib(10000) has 2090
 * digits: 233 limbs. */
typedef struct bignum {
    unsigned n;
    unsigned limb[300];
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

/* The number in decimal, as an owned bytes value. */
static dfr_value to_bytes(const bignum *r)
{
    char text[sizeof r->limb / sizeof r->limb[0] * 9 + 1];
    int len = sprintf(text, "%u", r->limb[r->n - 1]);
    for (unsigned i = r->n - 1; i-- > 0;)
        len += sprintf(text + len, "%09u", r->limb[i]);
    return dfr_bytes_new(text, (size_t)len);
}

static dfr_deferred *large_fibonacci_number(void)
{
    /* Create a deferred to return. */
    dfr_deferred *d = dfr_deferred_new();
    if (!d)
        return NULL;

    /* Calculate the ten thousandth Fibonacci number. */
    static bignum f[3];
    f[0] = (bignum){1, {0}};
    f[1] = (bignum){1, {1}};
    for (int i = 0; i < TARGET - 1; i++) {
        add(&f[(i + 2) % 3], &f[i % 3], &f[(i + 1) % 3]);
        if (i % 1000 == 0)
            printf("Progress: calculating the %dth Fibonacci number\n", i);
    }

    /* Give the deferred the answer: it fires before anyone could listen.
     * The deferred now owns the bytes value. */
    dfr_deferred_callback(d, to_bytes(&f[TARGET % 3]));
    return d;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The callback owns `number`; it drops it and passes none on.  Bytes are
 * not NUL-terminated: print them with a length. */
static dfr_value print_number(dfr_value number, void *data)
{
    (void)data;
    const char *digits = dfr_bytes_data(&number);
    size_t len = dfr_bytes_len(&number);
    printf("The %dth Fibonacci number is %.20s...%.10s (%zu digits)\n", TARGET, digits,
           digits + len - 10, len);
    dfr_value_drop(number);
    return dfr_none();
}

int main(void)
{
    double before = now();
    /* Call the function and get our deferred. */
    dfr_deferred *d = large_fibonacci_number();
    double after = now();
    if (!d)
        return 1;

    printf("Total time taken for largeFibonacciNumber call: %0.3f seconds\n", after - before);
    printf("The deferred has %s.\n",
           dfr_deferred_state(d) == DFR_SUCCEEDED ? "already fired" : "not fired yet");

    /* Add a callback to print the number: it runs before add_callback
     * returns, since the result is already there. */
    printf("Adding the callback now.\n");
    dfr_deferred_add_callback(d, print_number, NULL, NULL);
    printf("add_callback has returned.\n");

    dfr_deferred_unref(d);
    dfr_trim(); /* give back the library's cache of freed deferreds */
    return 0;
}
