; expect: reject ptr_arith
; linux: same
; buf[i] with an unchecked 64-bit i: the offset is not bounded at all.
        stdw [r10-8], 0
        ldxdw r2, [r1+24]
        mov64 r3, r10
        add64 r3, -8
        add64 r3, r2
        stb [r3+0], 1
        mov64 r0, 0
        exit
