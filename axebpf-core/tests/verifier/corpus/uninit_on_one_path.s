; expect: reject uninit_reg
; linux: same
; R3 is set on one path only.
        ldxw r2, [r1+16]
        jeq r2, 0, skip
        mov64 r3, 1
skip:
        mov64 r0, r3
        exit
