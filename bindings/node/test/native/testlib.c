/* The tests' own C library: blocking work to run on the reactor's pool. */
#include <stdint.h>
#include <time.h>

int64_t fib(int32_t n);
int64_t slow_fib(int32_t n, int32_t ms);
double halve(double x);

/* Iterative, so it runs long only when asked to. */
int64_t fib(int32_t n)
{
    int64_t a = 0, b = 1;
    for (int32_t i = 0; i < n; i++) {
        int64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

/* fib(n) after blocking the calling thread for `ms` milliseconds. */
int64_t slow_fib(int32_t n, int32_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return fib(n);
}

double halve(double x)
{
    return x / 2;
}
