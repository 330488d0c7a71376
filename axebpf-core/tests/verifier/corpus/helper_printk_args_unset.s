; expect: reject uninit_reg
; linux: accept -- Linux does not check trace_printk's format argument registers; unset ones would print stale values, possibly hypervisor addresses
; R3-R5 are not set.
        stdw [r10-8], 0x0a6925
        mov64 r1, r10
        add64 r1, -8
        mov64 r2, 4
        call trace_printk
        mov64 r0, 0
        exit
