/* The first frame of every coroutine on x86-64 (System V ABI).
 *
 * The switch itself is inline assembly (dfr__ctx_switch in coro_context.h).
 * A switch to a fresh context pops the resume address dfr__ctx_make left
 * and jumps here with rsp at the rest of struct first_frame (coro_context.c):
 *     (%rsp) mxcsr, 4(%rsp) x87 control word, 8(%rsp) arg, 16(%rsp) entry
 * The entry never returns.  Unwinders stop here (the return address is
 * undefined). */
    .text
    .globl  dfr__ctx_start
    .hidden dfr__ctx_start
    .type   dfr__ctx_start, @function
    .p2align 4
dfr__ctx_start:
    .cfi_startproc
    .cfi_undefined rip
#if defined(__CET__)
    endbr64
#endif
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    movq    8(%rsp), %rdi
    movq    16(%rsp), %rax
    addq    $24, %rsp
    xorl    %ebp, %ebp
    callq   *%rax
    ud2
    .cfi_endproc
    .size   dfr__ctx_start, .-dfr__ctx_start

    .section .note.GNU-stack,"",@progbits
