; expect: reject uninit_reg
; linux: same
; R0 is never set.
        exit
