/* Timing and output shared by the benchmark programs (see bench.h). */
#include "bench.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define MIN_TOTAL 0.2
#define MAX_REPS 1000

volatile int64_t sink;

double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void emit(const char *bench, const char *impl, long n, double ns)
{
    printf("{\"bench\": \"%s\", \"impl\": \"%s\", \"n\": %ld, \"ns_per_op\": %.2f}\n", bench, impl, n, ns);
}

void emit_bytes(const char *bench, const char *impl, long n, double bytes)
{
    printf("{\"bench\": \"%s\", \"impl\": \"%s\", \"n\": %ld, \"ns_per_op\": 0, \"bytes_per_op\": %.1f}\n",
           bench, impl, n, bytes);
}

double best_of(run_fn f, long n, int reps)
{
    double best = 1e300, total = 0;
    for (int i = 0; i < reps || (total < MIN_TOTAL && i < MAX_REPS); i++) {
        double t = f(n);
        total += t;
        if (t < best)
            best = t;
    }
    return best / (double)n * 1e9;
}

long rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}
