/* Coroutine stacks (see coro_stack.h).  Mapped with MAP_NORESERVE: only
 * the pages a coroutine touches become resident, so a 256 KiB stack costs
 * a page or two while suspended. */
#include "core/core_internal.h"
#include "coro/coro_stack.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Stacks handed out and not yet put back, all threads. */
static _Atomic size_t live;

/* Stacks freed while many others are live stay mapped, their pages given
 * back, for reuse: adjacent stacks share one mapping (with guard regions),
 * and unmapping them one by one from its middle splits it.  With
 * 140,000 live stacks and every other one freed, that reached the kernel's
 * 65,530 mappings per process, after which every mmap and munmap of the
 * process failed.  Below UNMAP_BELOW live stacks, freed ones are unmapped
 * and the kept ones too, by runs of adjacent ones: the splits stay few. */
#define UNMAP_BELOW 4096

typedef struct kept_map {
    void *map;
    size_t map_size;
    unsigned char guard;
} kept_map;

static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;
static kept_map *kept;
static size_t kept_len, kept_cap;

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

/* What the tools were told of s goes before its pages do. */
static void forget(dfr__stack *s)
{
#if defined(DFR_HAVE_VALGRIND)
    VALGRIND_STACK_DEREGISTER(s->valgrind_id);
#endif
#if defined(DFR_ASAN)
    /* Frames of a discarded coroutine leave poisoned shadow behind. */
    __asan_unpoison_memory_region(s->base, s->size);
#else
    DFR_UNUSED(s);
#endif
}

/* Keeps map for reuse, its pages (the guard page's aside) given back; false
 * when there is no room to note it. */
static bool keep(kept_map k)
{
    size_t page = dfr__page_size();
    (void)madvise((char *)k.map + page, k.map_size - page, MADV_DONTNEED);
    bool ok = true;
    pthread_mutex_lock(&kept_mu);
    if (kept_len == kept_cap) {
        size_t cap = kept_cap ? 2 * kept_cap : 64;
        kept_map *grown = realloc(kept, cap * sizeof *grown);
        if (grown) {
            kept = grown;
            kept_cap = cap;
        } else {
            ok = false;
        }
    }
    if (ok)
        kept[kept_len++] = k;
    pthread_mutex_unlock(&kept_mu);
    return ok;
}

/* Mapped stacks with an mprotect'd guard page: two mappings each. */
static _Atomic size_t paged;

static void unmapped(unsigned char guard)
{
    if (guard == DFR__GUARD_PAGE)
        atomic_fetch_sub_explicit(&paged, 1, memory_order_relaxed);
}

/* s's mapping, the tools told it goes (s lives in the mapping). */
static kept_map detach(dfr__stack *s)
{
    forget(s);
    return (kept_map){s->map, s->map_size, s->guard};
}

static void unmap(dfr__stack *s)
{
    kept_map k = detach(s);
    if (munmap(k.map, k.map_size) == 0)
        unmapped(k.guard);
    else if (errno == ENOMEM) /* too split to unmap now: kept, for reuse or later */
        (void)keep(k);
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const kept_map *)a)->map, y = (uintptr_t)((const kept_map *)b)->map;
    return (x > y) - (x < y);
}

/* Unmaps the kept stacks once few are live, adjacent ones in one call: a
 * run of stacks leaves its mapping whole, without a split per stack. */
static void drain(void)
{
    pthread_mutex_lock(&kept_mu);
    if (kept_len && atomic_load_explicit(&live, memory_order_relaxed) < UNMAP_BELOW) {
        qsort(kept, kept_len, sizeof *kept, by_address);
        size_t left = 0;
        for (size_t i = 0, j; i < kept_len; i = j) {
            size_t len = kept[i].map_size;
            for (j = i + 1; j < kept_len && (char *)kept[i].map + len == kept[j].map; j++)
                len += kept[j].map_size;
            if (munmap(kept[i].map, len) != 0) { /* still too split: later */
                while (i < j)
                    kept[left++] = kept[i++];
            } else {
                for (size_t k = i; k < j; k++)
                    unmapped(kept[k].guard);
            }
        }
        kept_len = left;
        if (!kept_len) {
            free(kept);
            kept = NULL;
            kept_cap = 0;
        }
    }
    pthread_mutex_unlock(&kept_mu);
}

/* A kept mapping of exactly map_size (and its guard), or NULL. */
static void *reuse(size_t map_size, unsigned char *guard)
{
    void *map = NULL;
    pthread_mutex_lock(&kept_mu);
    for (size_t i = kept_len; i-- > 0;) {
        if (kept[i].map_size == map_size) {
            map = kept[i].map;
            *guard = kept[i].guard;
            kept[i] = kept[--kept_len];
            break;
        }
    }
    pthread_mutex_unlock(&kept_mu);
    return map;
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

/* How many stacks may have an mprotect'd guard page: half the kernel's
 * mappings per process, less 16,384 left to the rest of the process.  Past
 * it, stacks get a canary instead: without that, the process's mappings ran
 * out near 32,000 live coroutines, and with them every other mmap. */
static size_t paged_budget(void)
{
    static _Atomic size_t budget;
    size_t b = atomic_load_explicit(&budget, memory_order_relaxed);
    if (!b) {
        unsigned long limit = 65530;
        FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
        if (f) {
            if (fscanf(f, "%lu", &limit) != 1)
                limit = 65530;
            fclose(f);
        }
        b = limit > 2 * 16384 ? (limit - 16384) / 2 : limit / 4;
        if (!b)
            b = 1;
        atomic_store_explicit(&budget, b, memory_order_relaxed);
    }
    return b;
}

static unsigned char guard(void *page_start, size_t page)
{
#if defined(MADV_GUARD_INSTALL)
    if (!atomic_load_explicit(&no_guard_regions, memory_order_relaxed)) {
        if (madvise(page_start, page, MADV_GUARD_INSTALL) == 0)
            return DFR__GUARD_REGION;
        if (errno == EINVAL) /* not another failure: that one may pass */
            atomic_store_explicit(&no_guard_regions, true, memory_order_relaxed);
    }
#endif
    if (atomic_fetch_add_explicit(&paged, 1, memory_order_relaxed) < paged_budget() &&
        mprotect(page_start, page, PROT_NONE) == 0)
        return DFR__GUARD_PAGE;
    atomic_fetch_sub_explicit(&paged, 1, memory_order_relaxed);
    return DFR__GUARD_CANARY;
}

_Noreturn void dfr__stack_overflowed(const dfr__stack *s)
{
    char msg[160];
    int n = snprintf(msg, sizeof msg,
                     "libdeferred: a coroutine overflowed its %zu-byte stack (no guard page: "
                     "past the kernel's mappings); give it a bigger stack_size\n",
                     s->size);
    if (n > 0)
        (void)!write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    abort();
}

/* The stack in map: the control block at its top, the guard page below. */
static dfr__stack *init_stack(char *map, size_t map_size, size_t size, size_t ctl_size,
                              unsigned char guard)
{
    size_t page = dfr__page_size();
    char *end = map + map_size;
    dfr__stack *s = (dfr__stack *)(uintptr_t)(((uintptr_t)end - ctl_size) & ~(uintptr_t)63);
    s->map = map;
    s->map_size = map_size;
    s->base = map + page;
    s->size = (size_t)((char *)s - (char *)s->base);
    s->asked = size;
    s->guard = guard;
    s->next_free = NULL;
    if (guard == DFR__GUARD_CANARY) {
        unsigned long long *w = dfr__stack_canary(s);
        for (int i = 0; i < DFR__CANARY_SIZE / 8; i++)
            w[i] = DFR__CANARY_WORD;
    }
#if defined(DFR_HAVE_VALGRIND)
    s->valgrind_id = VALGRIND_STACK_REGISTER(s->base, (char *)s->base + s->size);
#else
    s->valgrind_id = 0;
#endif
    return s;
}

static dfr__stack *map_stack(size_t size, size_t ctl_size)
{
    size_t page = dfr__page_size();
    size_t body = (size + ctl_size + page - 1) & ~(page - 1);
    size_t map_size = page + body;
    unsigned char kind;
    char *map = reuse(map_size, &kind);
    if (map)
        return init_stack(map, map_size, size, ctl_size, kind);
    map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    return init_stack(map, map_size, size, ctl_size, guard(map, page));
}

dfr__stack *dfr__stack_get(size_t size, size_t ctl_size)
{
    dfr__stack *got = NULL;
    for (dfr__stack **p = &pool; *p; p = &(*p)->next_free) {
        dfr__stack *s = *p;
        if (s->asked == size && (size_t)((char *)s->map + s->map_size - (char *)s) >= ctl_size) {
            *p = s->next_free;
            pool_len--;
            s->next_free = NULL;
            got = s;
            break;
        }
    }
    if (!got)
        got = map_stack(size, ctl_size);
    if (got)
        atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return got;
}

void dfr__stack_put(dfr__stack *s)
{
    size_t others = atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed) - 1;
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
    if (others < UNMAP_BELOW) {
        unmap(s);
        drain();
        return;
    }
    kept_map k = detach(s);
    if (!keep(k) && munmap(k.map, k.map_size) == 0) /* no room to note it */
        unmapped(k.guard);
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
    drain();
}
