; expect: reject ctx_oob
; linux: same
; A negative context offset.
        ldxw r0, [r1-4]
        exit
