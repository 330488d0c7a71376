; expect: accept
; linux: same
; The last slot of the 512-byte frame.
        stdw [r10-512], 1
        ldxdw r0, [r10-512]
        exit
