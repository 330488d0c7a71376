; expect: accept
; linux: reject -- Linux does not bound the result of a signed modulo (it is unknown there); a non-negative number modulo 16 is within 0..=15
; map vals array key=4 value=16 entries=1
; Signed modulo of a non-negative number by 16 is within 0..=15 (an index into the 16-byte
; value); signed divisions, 32 and 64 bits, by a register that may be 0 are defined.
        mov64 r6, r1
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        ldxw r2, [r6+16]
        ldxw r3, [r6+20]
        smod64 r2, 16
        add64 r0, r2
        ldxb r4, [r0+0]
        sdiv64 r4, r3
        sdiv32 r4, -3
        smod32 r4, r3
        mov64 r0, r4
        exit
out:
        mov64 r0, 0
        exit
