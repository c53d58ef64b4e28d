/* "Generating Deferreds", What Deferreds don't do: make your code
 * asynchronous.  largeFibonacciNumber returns a deferred, but computes the
 * answer before returning it: the call blocks, and the callback is added
 * only after the work is done. */
#include <deferred.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TARGET 10000

/* Decimal bignum: base-1e9 limbs, little-endian. */
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

static char *to_text(const bignum *r)
{
    char *text = malloc(r->n * 9 + 1);
    char *p = text + sprintf(text, "%u", r->limb[r->n - 1]);
    for (unsigned i = r->n - 1; i-- > 0;)
        p += sprintf(p, "%09u", r->limb[i]);
    return text;
}

static dfr_deferred *large_fibonacci_number(void)
{
    dfr_deferred *d = dfr_deferred_new();
    static bignum f[3];
    f[0] = (bignum){1, {0}};
    f[1] = (bignum){1, {1}};
    for (int i = 0; i < TARGET - 1; i++) {
        add(&f[(i + 2) % 3], &f[i % 3], &f[(i + 1) % 3]);
        if (i % 1000 == 0)
            printf("Progress: calculating the %dth Fibonacci number\n", i);
    }
    /* Give the deferred the answer: it fires before anyone could listen. */
    dfr_deferred_callback(d, dfr_ptr(to_text(&f[TARGET % 3])));
    return d;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static dfr_value print_number(dfr_value v, void *data)
{
    (void)data;
    char *digits = v.u.ptr;
    printf("The %dth Fibonacci number is %.30s... (%zu digits)\n", TARGET, digits,
           (size_t)snprintf(NULL, 0, "%s", digits));
    free(digits);
    return dfr_none();
}

int main(void)
{
    double before = now();
    dfr_deferred *d = large_fibonacci_number();
    printf("Total time taken for largeFibonnaciNumber call: %0.3f seconds\n", now() - before);
    printf("Adding the callback now.\n");
    dfr_deferred_add_callback(d, print_number, NULL, NULL);
    dfr_deferred_unref(d);
    return 0;
}
