; expect: reject jump_into_lddw
; linux: same
; A conditional jump into the second half of an lddw.
        ldxw r2, [r1+16]
        mov64 r0, 0
        jeq r2, 0, +1
        lddw r0, 0x100000000
        exit
