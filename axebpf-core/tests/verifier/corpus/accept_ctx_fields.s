; expect: accept
; linux: same
; Aligned reads of every vcpu_run_exit field after the header timestamp.
        ldxh r2, [r1+8]
        ldxw r3, [r1+16]
        ldxw r4, [r1+20]
        ldxdw r5, [r1+24]
        ldxdw r6, [r1+40]
        mov64 r0, 0
        exit
