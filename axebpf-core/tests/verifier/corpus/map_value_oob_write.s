; expect: reject map_value_oob
; linux: same
; map table array key=4 value=64 entries=4
; An 8-byte store at offset 60 of a 64-byte value.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, out
        stdw [r0+60], 0
out:
        mov64 r0, 0
        exit
