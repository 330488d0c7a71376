; expect: accept
; linux: same
; map vals array key=4 value=256 entries=1
; Sign-extending loads: a byte is within -128..=127, so +128 indexes a 256-byte value; the
; halfword and word forms on the stack.
        mov64 r6, r1
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        ldxsb r2, [r6+16]
        add64 r2, 128
        add64 r0, r2
        ldxb r3, [r0+0]
        stdw [r10-16], -1
        ldxsh r4, [r10-16]
        ldxsw r5, [r10-12]
        add64 r4, r5
        add64 r3, r4
        mov64 r0, r3
        exit
out:
        mov64 r0, 0
        exit
