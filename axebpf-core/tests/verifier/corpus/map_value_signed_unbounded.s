; expect: reject ptr_arith
; linux: same
; map table array key=4 value=64 entries=4
; Only the upper bound is checked; a negative index reaches before the value.
        ldxw r6, [r1+16]
        lsh64 r6, 32
        arsh64 r6, 32
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, out
        jsgt r6, 7, out
        lsh64 r6, 3
        add64 r0, r6
        ldxdw r0, [r0+0]
        exit
out:
        mov64 r0, 0
        exit
