/* The coroutine context switch for x86-64, System V ABI.
 *
 * void dfr__ctx_jump(void **save, void *sp)
 * Pushes the callee-saved registers (rbp, rbx, r12-r15) and the SSE and x87
 * control words on the running stack, stores the stack pointer in *save,
 * then loads `sp` and pops the other context's.  Caller-saved registers
 * need no saving: to the compiler this is an ordinary call.
 * The frame layout must match dfr__ctx_make in coro_context.c. */
    .text
    .globl  dfr__ctx_jump
    .hidden dfr__ctx_jump
    .type   dfr__ctx_jump, @function
    .p2align 4
dfr__ctx_jump:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   dfr__ctx_jump, .-dfr__ctx_jump

/* The first frame of every coroutine: dfr__ctx_make leaves the argument in
 * r12 and the entry function in r13.  The entry never returns.  Unwinders
 * stop here (the return address is undefined). */
    .globl  dfr__ctx_start
    .hidden dfr__ctx_start
    .type   dfr__ctx_start, @function
    .p2align 4
dfr__ctx_start:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r12, %rdi
    callq   *%r13
    ud2
    .cfi_endproc
    .size   dfr__ctx_start, .-dfr__ctx_start

    .section .note.GNU-stack,"",@progbits
