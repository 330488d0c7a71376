; expect: reject ptr_arith
; linux: same
; map counts hash key=4 value=8 entries=16
; Arithmetic on a possibly-NULL pointer.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        add64 r0, 8
        jeq r0, 0, out
out:
        mov64 r0, 0
        exit
