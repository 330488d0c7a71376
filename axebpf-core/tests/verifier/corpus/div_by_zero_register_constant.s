; expect: reject div_by_zero
; linux: accept -- Linux defines division by a zero register at run time (result 0); we refuse a divisor known to be 0
; Division by a register that is always 0.
        ldxw r0, [r1+16]
        mov64 r2, 0
        div64 r0, r2
        exit
