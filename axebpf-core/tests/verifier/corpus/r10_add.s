; expect: reject r10_write
; linux: same
; R10 is read-only, also for arithmetic.
        add64 r10, -8
        mov64 r0, 0
        exit
