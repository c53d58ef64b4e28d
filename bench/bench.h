/* What the benchmark programs share: timing, output lines, and the
 * benchmarks that live outside bench_core.c. */
#ifndef DFR_BENCH_H
#define DFR_BENCH_H

#include <stdint.h>

typedef double (*run_fn)(long n); /* returns seconds for n operations */

/* Monotonic seconds. */
double now(void);
/* One JSON line: a time per operation, or bytes per operation. */
void emit(const char *bench, const char *impl, long n, double ns);
void emit_bytes(const char *bench, const char *impl, long n, double bytes);
/* ns per operation: the best of at least `reps` runs (more, up to
 * MAX_REPS, while the runs so far total under MIN_TOTAL seconds). */
double best_of(run_fn f, long n, int reps);
/* Resident memory of this process in bytes, or -1. */
long rss_bytes(void);
/* Keeps results alive past the optimizer. */
extern volatile int64_t sink;

/* bench_coro.c */
double await_fired_dfr(long n);
double await_fired_floor(long n);
double await_suspend_dfr(long n);
double await_suspend_floor(long n);
double coroutine_cycle_dfr(long n);
void coroutine_memory(long n);

#endif
