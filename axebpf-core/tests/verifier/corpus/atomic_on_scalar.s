; expect: reject not_memory
; linux: same
; An atomic add through a number read from the context.
        ldxdw r3, [r1+24]
        mov64 r2, 1
        atomic_add64 [r3+0], r2
        mov64 r0, 0
        exit
