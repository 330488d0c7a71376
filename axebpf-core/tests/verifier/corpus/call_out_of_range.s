; expect: reject jump_range
; linux: same
; A local call past the end.
        call pc+100
        exit
