; expect: accept
; linux: same
; A loop that shifts a 32-bit number right until it is zero: it ends within 33 iterations.
        ldxw r2, [r1+16]
        mov64 r0, 0
top:
        jeq r2, 0, out
        rsh64 r2, 1
        add64 r0, 1
        ja top
out:
        exit
