; expect: reject null_check
; map counts hash key=4 value=8 entries=16
; The lookup's result is dereferenced without a NULL check.
        stw [r10-4], 1
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        ldxdw r1, [r0+0]
        mov64 r0, 0
        exit
