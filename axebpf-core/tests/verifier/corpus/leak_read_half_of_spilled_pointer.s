; expect: reject ptr_leak
; linux: same
; A whole spill, then half of it read back as a number.
        stxdw [r10-8], r1
        ldxw r0, [r10-8]
        exit
