; expect: reject map_value_oob
; linux: same
; map counts hash key=4 value=8 entries=16
; Reads before the value.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        jeq r0, 0, out
        ldxw r0, [r0-4]
        exit
out:
        mov64 r0, 0
        exit
