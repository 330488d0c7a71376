; expect: accept
; linux: same
; map counts hash key=4 value=8 entries=16
; A checked map value pointer survives a spill and fill.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        jeq r0, 0, out
        stxdw [r10-16], r0
        mov64 r0, 0
        ldxdw r3, [r10-16]
        stdw [r3+0], 5
out:
        mov64 r0, 0
        exit
