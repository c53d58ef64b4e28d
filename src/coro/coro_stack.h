/* Coroutine stacks: mmap'd with a guard page below, a control block at the
 * top, and a small per-thread pool for reuse. */
#ifndef DFR_CORO_STACK_H
#define DFR_CORO_STACK_H

#include <stddef.h>

/* What is below a stack's usable part: a guard region (Linux 6.13), an
 * mprotect'd guard page (older kernels, while the mapping budget lasts), or
 * past that a page holding a canary the coroutine's switches check. */
enum { DFR__GUARD_REGION, DFR__GUARD_PAGE, DFR__GUARD_CANARY };
#define DFR__CANARY_SIZE 64

typedef struct dfr__stack {
    void *map;      /* the mapping, starting with the guard page */
    size_t map_size;
    void *base;     /* usable stack: [base, base + size) */
    size_t size;
    size_t asked;   /* the usable size asked for: the pool's key */
    unsigned valgrind_id;
    unsigned char guard; /* DFR__GUARD_* */
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
/* Reports an overwritten canary and aborts: the stack overflowed. */
_Noreturn void dfr__stack_overflowed(const dfr__stack *s);
/* The canary stack's words, below its usable part. */
static inline unsigned long long *dfr__stack_canary(const dfr__stack *s)
{
    return (unsigned long long *)(void *)((char *)s->base - DFR__CANARY_SIZE);
}
#define DFR__CANARY_WORD 0xdf5c0a5a7c0a5a7dULL
/* On each switch out of a coroutine whose stack has no guard page. */
static inline void dfr__stack_check(const dfr__stack *s)
{
    if (__builtin_expect(s->guard == DFR__GUARD_CANARY, 0)) {
        const unsigned long long *w = dfr__stack_canary(s);
        for (int i = 0; i < DFR__CANARY_SIZE / 8; i++)
            if (w[i] != DFR__CANARY_WORD)
                dfr__stack_overflowed(s);
    }
}

#endif
