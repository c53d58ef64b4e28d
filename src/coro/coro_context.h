/* The machine context of a coroutine and the switch between two of them.
 * Our own assembly on x86-64 and aarch64 (callee-saved registers and the FP
 * control words only); ucontext elsewhere (meson's coro_backend). */
#ifndef DFR_CORO_CONTEXT_H
#define DFR_CORO_CONTEXT_H

#include <deferred.h>
#include <stddef.h>

#if defined(DFR_CORO_UCONTEXT)
#include <ucontext.h>
typedef struct dfr__ctx {
    ucontext_t uc;
} dfr__ctx;
#else
typedef struct dfr__ctx {
    void *sp; /* the saved stack pointer; what the context needs sits on that stack */
} dfr__ctx;
#endif

/* Prepare `ctx` so that switching to it runs entry(arg) on the stack
 * [base, base + size).  entry must never return (it switches away). */
void dfr__ctx_make(dfr__ctx *ctx, void *base, size_t size, void (*entry)(void *), void *arg);

/* ---- handing control over as a call that returns on the other side ----
 * dfr__ctx_suspend and dfr__ctx_resume save the caller in `from` as a call
 * in progress: whoever resumes `from` makes that call return.  On x86-64
 * the return is a jump, not a `ret`.  A `ret` after a switch finds the
 * other stack's addresses on the CPU's return predictor and is always
 * mispredicted; when the library reaches these by a tail call, an API call
 * that switches (dfr_await, dfr_deferred_callback) returns to its caller by
 * that jump, and a suspend + resume mispredicts no return at all.
 *
 * Resuming a context hands it either a value (it was suspended: its call
 * returns the value) or a function to run on its own stack first (it
 * resumed someone and now gets control back: its call returns what `then`
 * returns).  A context saved by dfr__ctx_resume is always resumed with a
 * `then`; one saved by dfr__ctx_suspend never is. */
typedef int (*dfr__ctx_then)(void *arg);

/* Save the caller in `from` and continue `to` with `then` (may be NULL: `to`
 * was saved by an inline switch).  Returns the value `from` is resumed with. */
dfr_value dfr__ctx_suspend(dfr__ctx *from, dfr__ctx *to, dfr__ctx_then then, void *arg);

/* Save the caller in `from` and continue `to`, which gets `v`.  Returns what
 * the `then` that `from` is resumed with returns. */
int dfr__ctx_resume(dfr__ctx *from, dfr__ctx *to, dfr_value v);

#if defined(DFR_CORO_UCONTEXT)

/* Save the running context in `from` and continue `to`. */
static inline void dfr__ctx_switch(dfr__ctx *from, dfr__ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}

#elif defined(__x86_64__)

/* x86-64 switches inline.  A called switch function returns into the other
 * stack, where the CPU's return predictor is always wrong; inline, the jump
 * to the resume point is an ordinary well-predicted indirect branch.  It
 * also lets the compiler save just the registers live across the switch:
 * to it, every register but rsp and rbp is clobbered (the other side runs
 * arbitrary code).  rbp, the SSE and x87 control words (callee-saved in the
 * System V ABI) and the resume address go on the stack:
 *     [resume address][mxcsr, x87 cw][rbp][128-byte red zone kept clear]
 * A fresh context's resume address is dfr__ctx_start, a suspended one's
 * the landing of dfr__ctx_suspend (coro_switch_x86_64.S).  What a resumed
 * context receives travels in registers: rdi the `then` to run (always
 * NULL from an inline switch), rax:rdx the value. */
#if defined(__CET__)
#define DFR__CTX_LANDING "endbr64\n\t" /* indirect-branch tracking */
#else
#define DFR__CTX_LANDING ""
#endif
#if defined(__AVX512F__)
#define DFR__CTX_AVX512_CLOBBERS                                                                   \
    , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25",   \
        "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k0", "k1", "k2", "k3", "k4", "k5", \
        "k6", "k7"
#else
#define DFR__CTX_AVX512_CLOBBERS
#endif

/* %[save]: where our stack pointer goes; %[sp]: the other context's. */
#define DFR__CTX_SWITCH_ASM                                                                        \
    "subq $128, %%rsp\n\t"                                                                         \
    "pushq %%rbp\n\t"                                                                              \
    "subq $8, %%rsp\n\t"                                                                           \
    "stmxcsr (%%rsp)\n\t"                                                                          \
    "fnstcw 4(%%rsp)\n\t"                                                                          \
    "leaq 1f(%%rip), %%r11\n\t"                                                                    \
    "pushq %%r11\n\t"                                                                              \
    "movq %%rsp, (%[save])\n\t"                                                                    \
    "movq %[sp], %%rsp\n\t"                                                                        \
    "xorl %%edi, %%edi\n\t"                                                                        \
    "popq %%r11\n\t"                                                                               \
    "jmpq *%%r11\n"                                                                                \
    "1:\n\t" DFR__CTX_LANDING "ldmxcsr (%%rsp)\n\t"                                                \
    "fldcw 4(%%rsp)\n\t"                                                                           \
    "addq $8, %%rsp\n\t"                                                                           \
    "popq %%rbp\n\t"                                                                               \
    "addq $128, %%rsp"
#define DFR__CTX_SWITCH_CLOBBERS                                                                   \
    "rdi", "rbx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2",    \
        "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",         \
        "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)",     \
        "st(7)", "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6", "mm7", "memory",                 \
        "cc" DFR__CTX_AVX512_CLOBBERS

/* Save the running context in `from` and continue `to`, handing it `v`. */
static inline __attribute__((always_inline)) void dfr__ctx_switch_give(dfr__ctx *from,
                                                                       dfr__ctx *to, dfr_value v)
{
    void **save = &from->sp;
    void *sp = to->sp;
    const void *type = v.type;
    int64_t word = v.u.i64;
    __asm__ volatile(DFR__CTX_SWITCH_ASM
                     : [save] "+c"(save), [sp] "+S"(sp), "+a"(type), "+d"(word)
                     :
                     : DFR__CTX_SWITCH_CLOBBERS);
}

/* Save the running context in `from` and continue `to`. */
static inline __attribute__((always_inline)) void dfr__ctx_switch(dfr__ctx *from, dfr__ctx *to)
{
    void **save = &from->sp;
    void *sp = to->sp;
    __asm__ volatile(DFR__CTX_SWITCH_ASM
                     : [save] "+c"(save), [sp] "+S"(sp)
                     :
                     : "rax", "rdx", DFR__CTX_SWITCH_CLOBBERS);
}

#else

/* coro_switch_<arch>.S: store the callee-saved registers on the running
 * stack with a resume point that returns from this call, store the stack
 * pointer in *save, and continue the context at `sp`, handing it `v`. */
void dfr__ctx_jump(void **save, void *sp, dfr_value v);

static inline void dfr__ctx_switch_give(dfr__ctx *from, dfr__ctx *to, dfr_value v)
{
    dfr__ctx_jump(&from->sp, to->sp, v);
}

static inline void dfr__ctx_switch(dfr__ctx *from, dfr__ctx *to)
{
    dfr__ctx_jump(&from->sp, to->sp, dfr_none());
}

#endif

#if defined(DFR_CORO_UCONTEXT)
/* ucontext hands over what a resumed context receives through the thread
 * (coro_context.c). */
void dfr__ctx_switch_give(dfr__ctx *from, dfr__ctx *to, dfr_value v);
#endif

#endif
