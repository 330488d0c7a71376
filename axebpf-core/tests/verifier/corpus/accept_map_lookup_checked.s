; expect: accept
; linux: same
; map counts hash key=4 value=8 entries=16
; Lookup, NULL check, read-modify-write of the value.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        jeq r0, 0, out
        ldxdw r1, [r0+0]
        add64 r1, 1
        stxdw [r0+0], r1
out:
        mov64 r0, 0
        exit
