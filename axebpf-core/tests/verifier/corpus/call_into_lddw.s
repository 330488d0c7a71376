; expect: reject jump_into_lddw
; linux: same
; A local call into the second half of an lddw.
        call pc+2
        exit
        lddw r0, 1
        exit
