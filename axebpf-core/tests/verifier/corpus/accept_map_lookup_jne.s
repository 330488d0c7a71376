; expect: accept
; linux: same
; map counts hash key=4 value=8 entries=16
; The NULL check as jne: the taken edge has the non-NULL pointer.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:counts
        call map_lookup_elem
        jne r0, 0, use
        mov64 r0, 0
        exit
use:
        stdw [r0+0], 7
        mov64 r0, 0
        exit
