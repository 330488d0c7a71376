; expect: accept
; linux: same
; A callee writes through a pointer into its caller's stack frame.
        stdw [r10-8], 0
        mov64 r1, r10
        add64 r1, -8
        call fill
        ldxdw r0, [r10-8]
        exit
fill:
        stdw [r1+0], 42
        mov64 r0, 0
        exit
