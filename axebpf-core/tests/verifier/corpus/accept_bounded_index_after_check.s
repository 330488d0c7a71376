; expect: accept
; linux: same
; map table array key=4 value=64 entries=4
; Pointer arithmetic with an index bounded by a comparison: 8 slots of 8 bytes.
        ldxw r6, [r1+16]
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, out
        jge r6, 8, out
        lsh64 r6, 3
        add64 r0, r6
        ldxdw r1, [r0+0]
out:
        mov64 r0, 0
        exit
