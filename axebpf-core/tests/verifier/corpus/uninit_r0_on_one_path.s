; expect: reject uninit_reg
; linux: same
; R0 is set on one path only.
        ldxw r2, [r1+16]
        jeq r2, 0, out
        mov64 r0, 1
out:
        exit
