/* Coroutine stacks: mmap'd with a guard page below, a control block at the
 * top, and a small per-thread pool for reuse. */
#ifndef DFR_CORO_STACK_H
#define DFR_CORO_STACK_H

#include <stddef.h>

typedef struct dfr__stack {
    void *map;      /* the mapping, starting with the guard page */
    size_t map_size;
    void *base;     /* usable stack: [base, base + size) */
    size_t size;
    size_t asked;   /* the usable size asked for: the pool's key */
    unsigned valgrind_id;
    struct dfr__stack *next_free;
} dfr__stack;

/* A stack with at least `size` usable bytes whose top `ctl_size` bytes
 * (beyond `size`) hold the caller's control block, which begins with the
 * dfr__stack.  From this thread's pool when one fits, else mapped.  NULL
 * when the mapping fails. */
dfr__stack *dfr__stack_get(size_t size, size_t ctl_size);
/* Back to this thread's pool, or unmapped when the pool is full. */
void dfr__stack_put(dfr__stack *s);
/* Unmap every stack in this thread's pool. */
void dfr__stack_trim(void);
/* The page size. */
size_t dfr__page_size(void);

#endif
