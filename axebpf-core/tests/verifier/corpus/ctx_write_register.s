; expect: reject ctx_write
; linux: same
; The context is read-only (register store).
        mov64 r2, 1
        stxw [r1+16], r2
        mov64 r0, 0
        exit
