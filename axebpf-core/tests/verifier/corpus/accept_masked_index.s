; expect: accept
; linux: same
; map table array key=4 value=64 entries=4
; An index bounded by a mask, kept in a callee-saved register across the call.
        ldxw r6, [r1+16]
        and64 r6, 7
        lsh64 r6, 3
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, out
        add64 r0, r6
        stdw [r0+0], 1
out:
        mov64 r0, 0
        exit
