; expect: reject ptr_arith
; linux: same
; An unbounded offset from the frame pointer.
        ldxdw r2, [r1+24]
        mov64 r3, r10
        add64 r3, r2
        ldxb r0, [r3+0]
        exit
