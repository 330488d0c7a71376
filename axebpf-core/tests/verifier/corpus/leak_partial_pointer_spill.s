; expect: reject ptr_leak
; linux: same
; Half a pointer stored and read back as a number.
        stxw [r10-8], r10
        ldxw r0, [r10-8]
        exit
