; expect: accept
; linux: same
; map slots percpu_array key=4 value=16 entries=8
; A per-CPU array value.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:slots
        call map_lookup_elem
        jeq r0, 0, out
        ldxdw r1, [r0+8]
        add64 r1, 1
        stxdw [r0+8], r1
out:
        mov64 r0, 0
        exit
