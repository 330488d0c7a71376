; expect: accept
; linux: same
; map counts hash key=4 value=8 entries=16
; Key and value built on the stack, passed to map_update_elem.
        ldxh r2, [r1+8]
        stxw [r10-4], r2
        stdw [r10-16], 1
        mov64 r2, r10
        add64 r2, -4
        mov64 r3, r10
        add64 r3, -16
        mov64 r4, 0
        lddw r1, map:counts
        call map_update_elem
        mov64 r0, 0
        exit
