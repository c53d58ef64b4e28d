/* The coroutine context switches for aarch64, AAPCS64 (see coro_context.h).
 *
 * A saved context is a 176-byte frame on its own stack, at its saved sp:
 *     [0, 80) x19..x28   [80, 96) x29 x30   [96, 160) d8..d15
 *     [160] fpcr         [168] where to resume
 * Resuming one loads its sp and branches to its resume point with x0:x1 =
 * the value it receives, x2 = the `then` to run (or 0), x3 = its argument;
 * the resume point restores the rest of the frame.  The frame layout must
 * match dfr__ctx_make in coro_context.c. */

/* Landing pads for the indirect branches to resume points, when built for
 * branch target identification. */
#if defined(__ARM_FEATURE_BTI_DEFAULT)
#define LANDING bti j
#else
#define LANDING
#endif

.macro save_frame resume_at
    sub     sp, sp, #176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    adr     x10, \resume_at
    stp     x9, x10, [sp, #160]
    mov     x9, sp
    str     x9, [x0]
.endm

.macro restore_frame
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
.endm

/* sp is the frame to resume; x0..x3 are set. */
.macro continue_frame
    ldr     x9, [sp, #168]
    br      x9
.endm

    .text

/* void dfr__ctx_jump(void **save x0, void *sp x1, dfr_value v x2:x3)
 * Saves the caller, then continues the context at `sp` with v and no
 * `then`.  Resumed, it returns to its caller with an ordinary `ret`. */
    .globl  dfr__ctx_jump
    .hidden dfr__ctx_jump
    .type   dfr__ctx_jump, %function
    .p2align 4
dfr__ctx_jump:
    .cfi_startproc
    save_frame .Ljump_resumed
    mov     sp, x1
    mov     x0, x2
    mov     x1, x3
    mov     x2, xzr
    continue_frame
.Ljump_resumed:
    LANDING
    restore_frame
    ret
    .cfi_endproc
    .size   dfr__ctx_jump, .-dfr__ctx_jump

/* int dfr__ctx_resume(dfr__ctx *from x0, dfr__ctx *to x1, dfr_value v x2:x3)
 * dfr_value dfr__ctx_suspend(dfr__ctx *from x0, dfr__ctx *to x1,
 *                            dfr__ctx_then then x2, void *arg x3)
 * Both save the caller as a call in progress and continue `to`.  Resumed,
 * the call runs then(arg) on its own stack if given, restores the caller's
 * registers and returns by `br x30`: never a `ret`, whose prediction would
 * be the other stack's. */
    .globl  dfr__ctx_resume
    .hidden dfr__ctx_resume
    .type   dfr__ctx_resume, %function
    .globl  dfr__ctx_suspend
    .hidden dfr__ctx_suspend
    .type   dfr__ctx_suspend, %function
    .p2align 4
dfr__ctx_resume:
    .cfi_startproc
    save_frame .Llanded
    ldr     x9, [x1]
    mov     sp, x9
    mov     x0, x2
    mov     x1, x3
    mov     x2, xzr             /* a suspended context runs no `then` */
    continue_frame
dfr__ctx_suspend:
    save_frame .Llanded
    ldr     x9, [x1]
    mov     sp, x9
    continue_frame
    .cfi_endproc

/* The resume point of both.  `then` runs from here: unwinders find the
 * caller's frame above. */
    .p2align 4
.Llanded:
    .cfi_startproc
    .cfi_def_cfa sp, 176
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    LANDING
    cbz     x2, 1f
    mov     x9, x2
    mov     x0, x3
    blr     x9
1:
    restore_frame
    br      x30
    .cfi_endproc
    .size   dfr__ctx_resume, .-dfr__ctx_resume
    .size   dfr__ctx_suspend, .-dfr__ctx_suspend

/* The first frame of every coroutine: dfr__ctx_make leaves the argument in
 * the x19 slot and the entry function in the x20 slot.  The entry never
 * returns. */
    .globl  dfr__ctx_start
    .hidden dfr__ctx_start
    .type   dfr__ctx_start, %function
    .p2align 4
dfr__ctx_start:
    .cfi_startproc
    .cfi_undefined x30
    LANDING
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    ldp     x19, x20, [sp, #0]
    add     sp, sp, #176
    mov     x29, xzr
    mov     x30, xzr
    mov     x0, x19
    blr     x20
    brk     #0
    .cfi_endproc
    .size   dfr__ctx_start, .-dfr__ctx_start

    .section .note.GNU-stack,"",%progbits
