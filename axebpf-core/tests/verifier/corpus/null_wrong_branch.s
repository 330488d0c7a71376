; expect: reject null_check
; linux: same
; map counts hash key=4 value=8 entries=16
; Dereferences on the edge where the pointer is NULL.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        jne r0, 0, out
        ldxdw r0, [r0+0]
        exit
out:
        mov64 r0, 0
        exit
