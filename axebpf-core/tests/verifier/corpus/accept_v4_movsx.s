; expect: accept
; linux: same
; map vals array key=4 value=256 entries=1
; movsx64 of a byte is within -128..=127; +128 indexes a 256-byte value. A value that already
; fits the width's positive half is unchanged (movsx32/16, movsx64/32).
        mov64 r6, r1
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        ldxb r2, [r6+16]
        movsx64 r3, r2, 8
        add64 r3, 128
        mov64 r1, r0
        add64 r1, r3
        ldxb r4, [r1+0]
        movsx32 r5, r4, 16
        movsx64 r5, r5, 32
        add64 r0, r5
        ldxb r0, [r0+0]
        exit
out:
        mov64 r0, 0
        exit
