; expect: reject ptr_arith
; linux: same
; map counts hash key=4 value=8 entries=16
; A map pointer is not memory.
        lddw r1, map:counts
        add64 r1, 8
        mov64 r0, 0
        exit
