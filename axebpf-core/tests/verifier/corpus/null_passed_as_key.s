; expect: reject null_check
; linux: same
; map counts hash key=4 value=8 entries=16
; A possibly-NULL value passed as a key.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        mov64 r2, r0
        lddw r1, map:counts
        call map_lookup_elem
        mov64 r0, 0
        exit
