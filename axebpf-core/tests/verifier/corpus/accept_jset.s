; expect: accept
; linux: same
; jset on a scalar.
        ldxw r2, [r1+16]
        mov64 r0, 0
        jset r2, 1, odd
        exit
odd:
        mov64 r0, 1
        exit
