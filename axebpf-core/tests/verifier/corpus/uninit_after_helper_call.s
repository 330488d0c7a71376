; expect: reject uninit_reg
; linux: same
; R1 is clobbered by the helper call; R6 would have been the right register.
        mov64 r6, r1
        call ktime_get_ns
        ldxw r0, [r1+16]
        exit
