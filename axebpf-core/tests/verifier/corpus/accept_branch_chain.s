; expect: accept
; Many diamonds in a row: paths are joined past the per-instruction limit.
        ldxw r2, [r1+16]
        mov64 r3, 0
        jeq r2, 1, +1
        add64 r3, 1
        jeq r2, 2, +1
        add64 r3, 2
        jeq r2, 3, +1
        add64 r3, 4
        jeq r2, 4, +1
        add64 r3, 8
        jeq r2, 5, +1
        add64 r3, 16
        jeq r2, 6, +1
        add64 r3, 32
        mov64 r0, r3
        exit
