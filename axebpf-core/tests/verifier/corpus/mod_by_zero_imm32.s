; expect: reject div_by_zero
; linux: same
; 32-bit modulo by the constant 0.
        ldxw r0, [r1+16]
        mod32 r0, 0
        exit
