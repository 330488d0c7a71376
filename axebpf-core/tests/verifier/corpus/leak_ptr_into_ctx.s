; expect: reject ctx_write
; linux: same
; A pointer stored into the (read-only) context.
        stxdw [r1+24], r10
        mov64 r0, 0
        exit
