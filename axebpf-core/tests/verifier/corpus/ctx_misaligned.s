; expect: reject misaligned
; linux: same
; A 4-byte context read at offset 18.
        ldxw r0, [r1+18]
        exit
