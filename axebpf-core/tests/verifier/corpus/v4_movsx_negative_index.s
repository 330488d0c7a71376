; expect: reject map_value_oob
; linux: same
; map vals array key=4 value=256 entries=1
; movsx64 of a byte may be negative: as an index it may point before the value.
        mov64 r6, r1
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        ldxb r2, [r6+16]
        movsx64 r3, r2, 8
        add64 r0, r3
        ldxb r0, [r0+0]
        exit
out:
        mov64 r0, 0
        exit
