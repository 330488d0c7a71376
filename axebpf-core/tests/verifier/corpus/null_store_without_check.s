; expect: reject null_check
; linux: same
; map counts hash key=4 value=8 entries=16
; A store through the unchecked lookup result.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        stdw [r0+0], 1
        mov64 r0, 0
        exit
