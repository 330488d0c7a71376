; expect: reject map_value_oob
; linux: same
; map vals array key=4 value=256 entries=1
; bswap16 of a byte moves it into the high byte (up to 0xff00): not an index into 256 bytes.
        mov64 r6, r1
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        ldxb r2, [r6+16]
        bswap16 r2
        add64 r0, r2
        ldxb r0, [r0+0]
        exit
out:
        mov64 r0, 0
        exit
