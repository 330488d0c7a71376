; expect: reject jump_into_lddw
; linux: same
; Into the second half of an lddw.
        mov64 r0, 0
        ja +1
        lddw r2, 0x1122334455667788
        exit
