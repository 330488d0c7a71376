; expect: reject div_by_zero
; linux: same
; A signed division by the constant 0.
        ldxw r2, [r1+16]
        sdiv64 r2, 0
        mov64 r0, r2
        exit
