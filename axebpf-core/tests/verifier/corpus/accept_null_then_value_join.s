; expect: accept
; linux: same
; map counts hash key=4 value=8 entries=16
; NULL on one path, the value on the other: checked again after the join.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        mov64 r6, r0
        jne r6, 0, have
        mov64 r6, 0
have:
        jeq r6, 0, out
        ldxdw r0, [r6+0]
        exit
out:
        mov64 r0, 0
        exit
