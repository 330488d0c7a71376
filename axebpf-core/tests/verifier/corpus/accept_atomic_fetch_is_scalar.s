; expect: accept
; linux: same
; map vals array key=4 value=16 entries=4
; A 32-bit fetch_add writes the old value, zero-extended, into its source: shifted right by
; 28 it indexes the 16-byte value safely.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        mov64 r2, 1
        atomic_fetch_add32 [r0+4], r2
        rsh64 r2, 28
        add64 r0, r2
        ldxb r0, [r0+0]
        exit
out:
        mov64 r0, 0
        exit
