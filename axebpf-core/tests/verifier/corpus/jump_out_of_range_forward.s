; expect: reject jump_range
; linux: same
; Past the end.
        mov64 r0, 0
        ja +5
        exit
