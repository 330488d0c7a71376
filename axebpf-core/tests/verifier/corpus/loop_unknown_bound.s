; expect: reject loop_budget
; linux: same
; for (i = 0; i < n; i++) with n from the context: up to 2^32 iterations, beyond the budget.
        ldxw r6, [r1+16]
        mov64 r0, 0
        mov64 r2, 0
loop:
        jge r2, r6, out
        add64 r0, r2
        add64 r2, 1
        ja loop
out:
        exit
