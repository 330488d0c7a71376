; expect: reject call_frame
; linux: reject -- (Linux refuses the caller's dereference of the returned scalar... or the return itself)
; A callee returns a pointer into its own, finished frame.
        call callee
        ldxdw r0, [r0+0]
        exit
callee:
        stdw [r10-8], 1
        mov64 r0, r10
        add64 r0, -8
        exit
