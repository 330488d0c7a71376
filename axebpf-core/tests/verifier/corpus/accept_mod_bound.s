; expect: accept
; linux: reject -- Linux derives no bounds from modulo by a constant (the result is below the divisor)
; map table array key=4 value=64 entries=4
; An index bounded by modulo.
        ldxw r6, [r1+16]
        mod64 r6, 8
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, out
        lsh64 r6, 3
        add64 r0, r6
        ldxdw r0, [r0+0]
out:
        mov64 r0, 0
        exit
