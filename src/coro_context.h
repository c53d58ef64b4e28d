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
    void *sp; /* the saved stack pointer; what the context needs sits on that stack */
} dfr__ctx;
#endif

/* Prepare `ctx` so that switching to it runs entry(arg) on the stack
 * [base, base + size).  entry must never return (it switches away). */
void dfr__ctx_make(dfr__ctx *ctx, void *base, size_t size, void (*entry)(void *), void *arg);

#if defined(DFR_CORO_UCONTEXT)

/* Save the running context in `from` and continue `to`. */
static inline void dfr__ctx_switch(dfr__ctx *from, dfr__ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}

#elif defined(__x86_64__)

/* x86-64 switches inline.  A called switch function returns into the other
 * stack, where the CPU's return predictor is always wrong; inline, the jump
 * to the resume point is an ordinary well-predicted indirect branch, which
 * halves the mispredictions of a suspend + resume.  It also lets the
 * compiler save just the registers live across the switch: to it, every
 * register but rsp and rbp is clobbered (the other side runs arbitrary
 * code).  rbp, the SSE and x87 control words (callee-saved in the System V
 * ABI) and the resume address go on the stack:
 *     [resume address][mxcsr, x87 cw][rbp][128-byte red zone kept clear]
 * A fresh context's resume address is dfr__ctx_start (coro_switch_x86_64.S,
 * laid out by dfr__ctx_make). */
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

static inline __attribute__((always_inline)) void dfr__ctx_switch(dfr__ctx *from, dfr__ctx *to)
{
    void **save = &from->sp;
    void *sp = to->sp;
    __asm__ volatile("subq $128, %%rsp\n\t"
                     "pushq %%rbp\n\t"
                     "subq $8, %%rsp\n\t"
                     "stmxcsr (%%rsp)\n\t"
                     "fnstcw 4(%%rsp)\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "movq %%rsp, (%0)\n\t"
                     "movq %1, %%rsp\n\t"
                     "popq %%rax\n\t"
                     "jmpq *%%rax\n"
                     "1:\n\t" DFR__CTX_LANDING "ldmxcsr (%%rsp)\n\t"
                     "fldcw 4(%%rsp)\n\t"
                     "addq $8, %%rsp\n\t"
                     "popq %%rbp\n\t"
                     "addq $128, %%rsp"
                     : "+D"(save), "+S"(sp)
                     :
                     : "rax", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
                       "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                       "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st",
                       "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "mm0", "mm1",
                       "mm2", "mm3", "mm4", "mm5", "mm6", "mm7", "memory",
                       "cc" DFR__CTX_AVX512_CLOBBERS);
}

#else

/* coro_switch_<arch>.S: store the callee-saved registers on the running
 * stack, store the stack pointer in *save, load `sp` and restore the other
 * context's. */
void dfr__ctx_jump(void **save, void *sp);

static inline void dfr__ctx_switch(dfr__ctx *from, dfr__ctx *to)
{
    dfr__ctx_jump(&from->sp, to->sp);
}

#endif

#endif
