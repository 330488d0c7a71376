; expect: reject ptr_arith
; linux: same
; map table array key=4 value=64 entries=4
; An index read from the context and never bounded.
        ldxw r6, [r1+16]
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, out
        add64 r0, r6
        ldxdw r0, [r0+0]
        exit
out:
        mov64 r0, 0
        exit
