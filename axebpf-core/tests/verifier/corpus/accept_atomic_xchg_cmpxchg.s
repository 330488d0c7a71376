; expect: accept
; linux: same
; xchg writes the old value into its source; cmpxchg compares with R0 and writes the old
; value into R0, a scalar the program may return.
        stdw [r10-8], 5
        mov64 r2, 9
        atomic_xchg64 [r10-8], r2
        mov64 r0, 9
        mov64 r3, 11
        atomic_cmpxchg64 [r10-8], r3
        stw [r10-16], 1
        mov64 r4, r0
        mov64 r0, 1
        atomic_cmpxchg32 [r10-16], r4
        add64 r0, r2
        exit
