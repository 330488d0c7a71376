; expect: accept
; linux: same
; map counts hash key=4 value=8 entries=16
; Two lookups reach one dereference, both checked (exit_latency's shape).
        ldxh r2, [r1+8]
        stxw [r10-4], r2
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        jne r0, 0, found
        stdw [r10-16], 0
        mov64 r2, r10
        add64 r2, -4
        mov64 r3, r10
        add64 r3, -16
        lddw r1, map:counts
        mov64 r4, 1
        call map_update_elem
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        jeq r0, 0, out
found:
        ldxdw r1, [r0+0]
        add64 r1, 1
        stxdw [r0+0], r1
out:
        mov64 r0, 0
        exit
