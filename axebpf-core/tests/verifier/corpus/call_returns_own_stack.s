; expect: reject call_frame
; linux: same
; A callee returns a pointer into its own, finished frame.
        call callee
        ldxdw r0, [r0+0]
        exit
callee:
        stdw [r10-8], 1
        mov64 r0, r10
        add64 r0, -8
        exit
