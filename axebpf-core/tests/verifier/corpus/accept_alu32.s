; expect: accept
; linux: same
; 32-bit arithmetic on scalars.
        ldxw r2, [r1+16]
        mov32 r3, r2
        add32 r3, 5
        mul32 r3, 3
        xor32 r3, r2
        rsh32 r3, 2
        arsh32 r3, 1
        neg32 r3
        mov64 r0, r3
        exit
