; expect: accept
; linux: same
; map table array key=4 value=64 entries=4
; A bounded scalar spilled across a helper call keeps its bounds.
        ldxw r6, [r1+16]
        and64 r6, 7
        stxdw [r10-16], r6
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, out
        ldxdw r3, [r10-16]
        lsh64 r3, 3
        add64 r0, r3
        ldxdw r0, [r0+0]
out:
        mov64 r0, 0
        exit
