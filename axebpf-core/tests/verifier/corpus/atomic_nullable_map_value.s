; expect: reject null_check
; linux: same
; map vals hash key=4 value=16 entries=4
; An atomic add through a lookup result not compared with NULL.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        mov64 r1, 1
        atomic_add64 [r0+0], r1
        mov64 r0, 0
        exit
