; expect: reject ctx_write
; linux: same
; The context is read-only.
        stw [r1+16], 0
        mov64 r0, 0
        exit
