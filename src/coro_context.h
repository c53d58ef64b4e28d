/* The machine context of a coroutine and the switch between two of them.
 * Our own assembly on x86-64 and aarch64 (callee-saved registers and the FP
 * control words only); ucontext elsewhere (meson's coro_backend). */
#ifndef DFR_CORO_CONTEXT_H
#define DFR_CORO_CONTEXT_H

#include <stddef.h>

#if defined(DFR_CORO_UCONTEXT)
#include <ucontext.h>
typedef struct dfr__ctx {
    ucontext_t uc;
} dfr__ctx;
#else
typedef struct dfr__ctx {
    void *sp; /* the saved stack pointer; the registers sit on that stack */
} dfr__ctx;

/* coro_switch_<arch>.S: push the callee-saved registers, store the stack
 * pointer in *save, load `sp` and pop the other context's registers. */
void dfr__ctx_jump(void **save, void *sp);
#endif

/* Prepare `ctx` so that switching to it runs entry(arg) on the stack
 * [base, base + size).  entry must never return (it switches away). */
void dfr__ctx_make(dfr__ctx *ctx, void *base, size_t size, void (*entry)(void *), void *arg);

/* Save the running context in `from` and continue `to`. */
static inline void dfr__ctx_switch(dfr__ctx *from, dfr__ctx *to)
{
#if defined(DFR_CORO_UCONTEXT)
    swapcontext(&from->uc, &to->uc);
#else
    dfr__ctx_jump(&from->sp, to->sp);
#endif
}

#endif
