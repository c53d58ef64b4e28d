/* The coroutine context switch for aarch64, AAPCS64.
 *
 * void dfr__ctx_jump(void **save, void *sp)
 * Stores the callee-saved registers (x19-x30, d8-d15) and FPCR on the
 * running stack, stores the stack pointer in *save, then loads `sp` and
 * restores the other context's; `ret` continues at its x30.
 * The frame layout must match dfr__ctx_make in coro_context.c. */
    .text
    .globl  dfr__ctx_jump
    .hidden dfr__ctx_jump
    .type   dfr__ctx_jump, %function
    .p2align 4
dfr__ctx_jump:
    .cfi_startproc
    sub     sp, sp, #176
    .cfi_adjust_cfa_offset 176
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
    str     x9, [sp, #160]
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1
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
    ret
    .cfi_endproc
    .size   dfr__ctx_jump, .-dfr__ctx_jump

/* The first frame of every coroutine: dfr__ctx_make leaves the argument in
 * x19 and the entry function in x20.  The entry never returns. */
    .globl  dfr__ctx_start
    .hidden dfr__ctx_start
    .type   dfr__ctx_start, %function
    .p2align 4
dfr__ctx_start:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x19
    blr     x20
    brk     #0
    .cfi_endproc
    .size   dfr__ctx_start, .-dfr__ctx_start

    .section .note.GNU-stack,"",%progbits
