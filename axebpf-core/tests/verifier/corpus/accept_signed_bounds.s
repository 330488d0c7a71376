; expect: accept
; linux: same
; map table array key=4 value=64 entries=4
; A sign-extended index bounded by signed comparisons on both sides.
        ldxw r6, [r1+16]
        lsh64 r6, 32
        arsh64 r6, 32
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, out
        jslt r6, 0, out
        jsgt r6, 7, out
        lsh64 r6, 3
        add64 r0, r6
        ldxdw r0, [r0+0]
out:
        mov64 r0, 0
        exit
