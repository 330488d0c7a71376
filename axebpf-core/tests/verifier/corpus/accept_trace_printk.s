; expect: accept
; linux: same
; trace_printk with the format on the stack and every argument register set.
        stdw [r10-8], 0x0a6925
        mov64 r1, r10
        add64 r1, -8
        mov64 r2, 4
        ldxw r3, [r1+0]
        mov64 r3, 7
        mov64 r4, 0
        mov64 r5, 0
        call trace_printk
        mov64 r0, 0
        exit
