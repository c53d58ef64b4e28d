/* Coroutine stacks (see coro_stack.h).  Mapped with MAP_NORESERVE: only
 * the pages a coroutine touches become resident, so a 256 KiB stack costs
 * a page or two while suspended. */
#include "core/core_internal.h"
#include "coro/coro_stack.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(DFR_HAVE_VALGRIND)
#include <valgrind/valgrind.h>
#endif

#if defined(DFR_ASAN)
#include <sanitizer/asan_interface.h>
#endif

/* Enough to run a burst of short coroutines without a system call, small
 * enough that idle stacks cost little. */
#define POOL_MAX 16

static _Thread_local dfr__stack *pool;
static _Thread_local unsigned pool_len;
/* dfr_trim empties this thread's pool (the core layer's trim hooks). */
static dfr__hook trim_hook = {.fn = dfr__stack_trim};

size_t dfr__page_size(void)
{
    /* Threads may race to fill it in: with the same value, harmlessly. */
    static _Atomic size_t page;
    size_t n = atomic_load_explicit(&page, memory_order_relaxed);
    if (!n) {
        long p = sysconf(_SC_PAGESIZE);
        n = p > 0 ? (size_t)p : 4096;
        atomic_store_explicit(&page, n, memory_order_relaxed);
    }
    return n;
}

static void unmap(dfr__stack *s)
{
#if defined(DFR_HAVE_VALGRIND)
    VALGRIND_STACK_DEREGISTER(s->valgrind_id);
#endif
#if defined(DFR_ASAN)
    /* Frames of a discarded coroutine leave poisoned shadow behind. */
    __asan_unpoison_memory_region(s->base, s->size);
#endif
    munmap(s->map, s->map_size);
}

/* Linux 6.13's guard regions: a page that faults like PROT_NONE, without
 * splitting the mapping.  An mprotect'd guard page makes each stack two
 * mappings that never merge with their neighbours, and the kernel's limit
 * of 65,530 mappings per process then caps a process near 32,000 live
 * coroutines; with guard regions, adjacent stacks merge into one mapping. */
#if defined(__linux__) && !defined(MADV_GUARD_INSTALL)
#define MADV_GUARD_INSTALL 102
#endif

/* An older kernel answers EINVAL once; then mprotect. */
static _Atomic bool no_guard_regions;

static bool guard(void *page_start, size_t page)
{
#if defined(MADV_GUARD_INSTALL)
    if (!atomic_load_explicit(&no_guard_regions, memory_order_relaxed)) {
        if (madvise(page_start, page, MADV_GUARD_INSTALL) == 0)
            return true;
        atomic_store_explicit(&no_guard_regions, true, memory_order_relaxed);
    }
#endif
    return mprotect(page_start, page, PROT_NONE) == 0;
}

static dfr__stack *map_stack(size_t size, size_t ctl_size)
{
    size_t page = dfr__page_size();
    size_t body = (size + ctl_size + page - 1) & ~(page - 1);
    size_t map_size = page + body;
    char *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    if (!guard(map, page)) {
        munmap(map, map_size);
        return NULL;
    }
    char *end = map + map_size;
    dfr__stack *s = (dfr__stack *)(uintptr_t)(((uintptr_t)end - ctl_size) & ~(uintptr_t)63);
    s->map = map;
    s->map_size = map_size;
    s->base = map + page;
    s->size = (size_t)((char *)s - (char *)s->base);
    s->asked = size;
    s->next_free = NULL;
#if defined(DFR_HAVE_VALGRIND)
    s->valgrind_id = VALGRIND_STACK_REGISTER(s->base, (char *)s->base + s->size);
#else
    s->valgrind_id = 0;
#endif
    return s;
}

dfr__stack *dfr__stack_get(size_t size, size_t ctl_size)
{
    for (dfr__stack **p = &pool; *p; p = &(*p)->next_free) {
        dfr__stack *s = *p;
        if (s->asked == size && (size_t)((char *)s->map + s->map_size - (char *)s) >= ctl_size) {
            *p = s->next_free;
            pool_len--;
            s->next_free = NULL;
            return s;
        }
    }
    return map_stack(size, ctl_size);
}

void dfr__stack_put(dfr__stack *s)
{
    /* This thread's exit empties the pool (dfr_trim). */
    if (pool_len < POOL_MAX && dfr__trim_at_thread_exit(&trim_hook)) {
#if defined(DFR_ASAN)
        __asan_unpoison_memory_region(s->base, s->size);
#endif
        s->next_free = pool;
        pool = s;
        pool_len++;
        return;
    }
    unmap(s);
}

void dfr__stack_trim(void)
{
    dfr__stack *s = pool;
    pool = NULL;
    pool_len = 0;
    while (s) {
        dfr__stack *next = s->next_free;
        unmap(s);
        s = next;
    }
}
