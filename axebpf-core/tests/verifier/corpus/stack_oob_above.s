; expect: reject stack_oob
; linux: same
; Reading at R10 itself is above the frame.
        ldxdw r0, [r10+0]
        exit
