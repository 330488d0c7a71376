; expect: reject uninit_reg
; linux: same
; R3 is never set.
        mov64 r0, 0
        add64 r0, r3
        exit
