; expect: reject helper_arg
; linux: same
; The format size comes from the context, unbounded.
        stdw [r10-8], 0x0a6925
        ldxw r2, [r1+16]
        mov64 r1, r10
        add64 r1, -8
        mov64 r3, 0
        mov64 r4, 0
        mov64 r5, 0
        call trace_printk
        mov64 r0, 0
        exit
