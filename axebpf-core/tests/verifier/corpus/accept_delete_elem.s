; expect: accept
; linux: same
; map counts hash key=4 value=8 entries=16
; map_delete_elem with a stack key.
        stw [r10-4], 3
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_delete_elem
        mov64 r0, 0
        exit
