/* Context switches on x86-64 (System V ABI) that are calls: the first frame
 * of every coroutine, and dfr__ctx_suspend / dfr__ctx_resume (see
 * coro_context.h).  The plain switch is inline assembly (dfr__ctx_switch
 * in coro_context.h).
 *
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

/* int dfr__ctx_resume(dfr__ctx *from %rdi, dfr__ctx *to %rsi, dfr_value v %rdx:%rcx)
 * dfr_value dfr__ctx_suspend(dfr__ctx *from %rdi, dfr__ctx *to %rsi,
 *                            dfr__ctx_then then %rdx, void *arg %rcx)
 * Both save the caller as a call in progress, on its stack:
 *     [.Llanding][mxcsr, x87 cw][r15 r14 r13 r12 rbx rbp][return address]
 * and continue `to` with rdi = then, rsi = arg, rax:rdx = the value, the
 * registers every resume point expects (dfr__ctx_switch_give sends the
 * same).  Resumed at .Llanding, the call runs then(arg) on its own stack if
 * given, restores the caller's registers and returns by a jump to its
 * return address: never a `ret`, whose prediction would be the other
 * stack's. */
    .globl  dfr__ctx_resume
    .hidden dfr__ctx_resume
    .type   dfr__ctx_resume, @function
    .globl  dfr__ctx_suspend
    .hidden dfr__ctx_suspend
    .type   dfr__ctx_suspend, @function
    .p2align 4
dfr__ctx_resume:
    .cfi_startproc
#if defined(__CET__)
    endbr64
#endif
    movq    %rdx, %r8           /* the value goes to the other side */
    movq    %rcx, %r9
    xorl    %edx, %edx          /* a suspended context runs no `then` */
    jmp     .Lsave
dfr__ctx_suspend:
#if defined(__CET__)
    endbr64
#endif
.Lsave:
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
    leaq    .Llanding(%rip), %rax
    pushq   %rax
    movq    %rsp, (%rdi)
    movq    (%rsi), %rsp
    movq    %rdx, %rdi
    movq    %rcx, %rsi
    movq    %r8, %rax
    movq    %r9, %rdx
    popq    %r11
    jmpq    *%r11
    .cfi_endproc

/* The resume point of both: rsp 16-aligned at the saved control words. */
    .p2align 4
.Llanding:
    .cfi_startproc
    .cfi_def_cfa rsp, 64
    .cfi_offset rip, -8
    .cfi_offset rbp, -16
    .cfi_offset rbx, -24
    .cfi_offset r12, -32
    .cfi_offset r13, -40
    .cfi_offset r14, -48
    .cfi_offset r15, -56
#if defined(__CET__)
    endbr64
#endif
    testq   %rdi, %rdi
    jz      1f
    movq    %rdi, %r11
    movq    %rsi, %rdi
    callq   *%r11
1:
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %r15
    .cfi_adjust_cfa_offset -8
    popq    %r14
    .cfi_adjust_cfa_offset -8
    popq    %r13
    .cfi_adjust_cfa_offset -8
    popq    %r12
    .cfi_adjust_cfa_offset -8
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    popq    %rcx
    .cfi_adjust_cfa_offset -8
#if defined(__CET__)
    notrack jmpq *%rcx          /* a return address carries no endbr64 */
#else
    jmpq    *%rcx
#endif
    .cfi_endproc
    .size   dfr__ctx_resume, .-dfr__ctx_resume
    .size   dfr__ctx_suspend, .-dfr__ctx_suspend

    .section .note.GNU-stack,"",@progbits
