; expect: accept
; linux: same
; Division by a register that may be 0 is defined (result 0 / dst unchanged).
        ldxw r2, [r1+16]
        ldxw r3, [r1+20]
        div64 r2, r3
        mod64 r2, r3
        mov64 r0, r2
        exit
