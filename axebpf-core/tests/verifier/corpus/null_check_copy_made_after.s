; expect: reject null_check
; linux: same
; map counts hash key=4 value=8 entries=16
; Both edges join before the dereference, so the value may be NULL again.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        jeq r0, 0, out
out:
        mov64 r6, r0
        ldxdw r0, [r6+0]
        exit
