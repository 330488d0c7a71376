; expect: accept
; linux: same
; map table array key=4 value=64 entries=4
; A 32-bit comparison bounds a value known to fit 32 bits.
        ldxw r6, [r1+16]
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, out
        jge32 r6, 8, out
        lsh64 r6, 3
        add64 r0, r6
        ldxdw r0, [r0+0]
out:
        mov64 r0, 0
        exit
