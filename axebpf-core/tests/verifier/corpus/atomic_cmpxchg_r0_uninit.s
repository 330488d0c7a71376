; expect: reject uninit_reg
; linux: same
; cmpxchg compares with R0, which nothing set.
        stdw [r10-8], 0
        mov64 r2, 1
        atomic_cmpxchg64 [r10-8], r2
        mov64 r0, 0
        exit
