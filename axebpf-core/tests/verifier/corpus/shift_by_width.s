; expect: reject bad_shift
; linux: same
; A 64-bit shift by 64.
        ldxw r0, [r1+16]
        lsh64 r0, 64
        exit
