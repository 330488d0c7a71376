; expect: reject div_by_zero
; linux: same
; Division by the constant 0.
        ldxw r0, [r1+16]
        div64 r0, 0
        exit
