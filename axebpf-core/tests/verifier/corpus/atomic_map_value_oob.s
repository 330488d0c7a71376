; expect: reject map_value_oob
; linux: same
; map vals array key=4 value=16 entries=4
; A 64-bit atomic add at value+16, past the 16-byte value.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        mov64 r1, 1
        atomic_add64 [r0+16], r1
out:
        mov64 r0, 0
        exit
