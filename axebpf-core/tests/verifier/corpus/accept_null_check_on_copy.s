; expect: accept
; linux: same
; map counts hash key=4 value=8 entries=16
; Checking one copy of the lookup result makes every copy non-NULL.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        mov64 r6, r0
        jeq r0, 0, out
        ldxdw r1, [r6+0]
out:
        mov64 r0, 0
        exit
