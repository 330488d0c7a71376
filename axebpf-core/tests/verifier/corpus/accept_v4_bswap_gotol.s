; expect: accept
; linux: same
; map vals array key=4 value=256 entries=1
; bswap16 leaves at most 16 bits: shifted right by 8 it indexes a 256-byte value; bswap32
; and bswap64; a 32-bit ja (gotol) over an instruction.
        mov64 r6, r1
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        ldxdw r2, [r6+24]
        bswap16 r2
        rsh64 r2, 8
        add64 r0, r2
        ldxb r3, [r0+0]
        bswap32 r3
        bswap64 r3
        jne r3, 7, other
        ja32 skip
other:
        mov64 r3, 5
skip:
        mov64 r0, r3
        exit
out:
        mov64 r0, 0
        exit
