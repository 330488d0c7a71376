; expect: reject not_memory
; linux: same
; map counts hash key=4 value=8 entries=16
; A map pointer cannot be read.
        lddw r1, map:counts
        ldxdw r0, [r1+0]
        exit
