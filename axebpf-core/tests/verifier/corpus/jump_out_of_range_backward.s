; expect: reject jump_range
; linux: same
; Before the start.
        mov64 r0, 0
        ja -3
        exit
