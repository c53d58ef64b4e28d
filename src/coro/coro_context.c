/* The first frame of a coroutine, per backend, and ucontext's handover of
 * what a resumed context receives (see coro_context.h). */
#include "coro_context.h" /* by its own name: bench/ compiles this file too */

#include <stdint.h>
#include <string.h>

_Static_assert(sizeof(dfr_value) == 2 * sizeof(void *), "a dfr_value travels in two registers");

#if defined(DFR_CORO_UCONTEXT)

/* What the context being resumed receives (the assembly switches pass it in
 * registers).  Contexts never leave their thread, so the thread carries it
 * across. */
static _Thread_local struct {
    dfr__ctx_then then;
    void *arg;
    dfr_value value;
} handoff;

void dfr__ctx_switch_give(dfr__ctx *from, dfr__ctx *to, dfr_value v)
{
    handoff.then = NULL;
    handoff.value = v;
    dfr__ctx_switch(from, to);
}

dfr_value dfr__ctx_suspend(dfr__ctx *from, dfr__ctx *to, dfr__ctx_then then, void *arg)
{
    handoff.then = then;
    handoff.arg = arg;
    dfr__ctx_switch(from, to);
    return handoff.value;
}

int dfr__ctx_resume(dfr__ctx *from, dfr__ctx *to, dfr_value v)
{
    dfr__ctx_switch_give(from, to, v);
    /* Back from a dfr__ctx_suspend, which always names a `then` for us. */
    return handoff.then(handoff.arg);
}

/* makecontext passes int arguments only: the pointers travel in halves. */
static void start_from_ints(unsigned entry_hi, unsigned entry_lo, unsigned arg_hi, unsigned arg_lo)
{
    uintptr_t entry = ((uintptr_t)entry_hi << 16 << 16) | entry_lo;
    uintptr_t arg = ((uintptr_t)arg_hi << 16 << 16) | arg_lo;
    void (*fn)(void *);
    memcpy(&fn, &entry, sizeof fn);
    fn((void *)arg);
}

void dfr__ctx_make(dfr__ctx *ctx, void *base, size_t size, void (*entry)(void *), void *arg)
{
    memset(ctx, 0, sizeof *ctx);
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = base;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    uintptr_t e;
    memcpy(&e, &entry, sizeof e);
    uintptr_t a = (uintptr_t)arg;
    makecontext(&ctx->uc, (void (*)(void))start_from_ints, 4, (unsigned)(e >> 16 >> 16),
                (unsigned)e, (unsigned)(a >> 16 >> 16), (unsigned)a);
}

#elif defined(__x86_64__)

void dfr__ctx_start(void);

/* What a switch to a fresh context pops, lowest address first; see
 * dfr__ctx_start. */
struct first_frame {
    void (*resume)(void); /* dfr__ctx_start */
    uint32_t mxcsr;
    uint16_t x87_cw, pad0;
    void *arg;
    void (*entry)(void *);
    void *zero[4]; /* above the first frame: a null return address */
};

void dfr__ctx_make(dfr__ctx *ctx, void *base, size_t size, void (*entry)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)base + size) & ~(uintptr_t)15;
    /* After dfr__ctx_start's pops, rsp = &zero[0]: 16-aligned for its call. */
    struct first_frame *f = (struct first_frame *)(top - sizeof(struct first_frame));
    memset(f, 0, sizeof *f);
    /* The coroutine starts with the creator's rounding and precision modes. */
    __asm__ volatile("stmxcsr %0" : "=m"(f->mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(f->x87_cw));
    f->entry = entry;
    f->arg = arg;
    f->resume = dfr__ctx_start;
    ctx->sp = f;
}

#elif defined(__aarch64__)

void dfr__ctx_start(void);

/* The frame every resume point restores, lowest address first (176 bytes;
 * coro_switch_aarch64.S): a fresh one resumes at dfr__ctx_start. */
struct first_frame {
    void *x19, *x20, *x21_x28[8], *x29, *x30;
    double d8_d15[8];
    uint64_t fpcr;
    void (*resume)(void); /* dfr__ctx_start */
};

void dfr__ctx_make(dfr__ctx *ctx, void *base, size_t size, void (*entry)(void *), void *arg)
{
    _Static_assert(sizeof(struct first_frame) == 176 && offsetof(struct first_frame, fpcr) == 160 &&
                       offsetof(struct first_frame, resume) == 168,
                   "frame layout of coro_switch_aarch64.S");
    uintptr_t top = ((uintptr_t)base + size) & ~(uintptr_t)15;
    struct first_frame *f = (struct first_frame *)(top - sizeof(struct first_frame));
    memset(f, 0, sizeof *f);
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    f->fpcr = fpcr;
    f->x19 = arg;
    memcpy(&f->x20, &entry, sizeof entry);
    f->resume = dfr__ctx_start;
    ctx->sp = f;
}

#else
#error "no assembly context switch for this CPU: configure with -Dcoro_backend=ucontext"
#endif
