; expect: reject atomic_region
; linux: same
; An atomic add on the context (read-only).
        mov64 r2, 1
        atomic_add64 [r1+16], r2
        mov64 r0, 0
        exit
