; expect: reject map_value_oob
; linux: same
; map counts hash key=4 value=8 entries=16
; map pairs hash key=4 value=16 entries=16
; A 16-byte value read from an 8-byte map value.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        jeq r0, 0, out
        mov64 r2, r0
        stw [r10-8], 0
        mov64 r3, r2
        mov64 r2, r10
        add64 r2, -8
        lddw r1, map:pairs
        mov64 r4, 0
        call map_update_elem
out:
        mov64 r0, 0
        exit
