; expect: reject bad_shift
; linux: same
; A 32-bit shift by 32.
        ldxw r0, [r1+16]
        rsh32 r0, 32
        exit
