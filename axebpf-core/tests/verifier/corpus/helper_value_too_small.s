; expect: reject stack_oob
; linux: same
; map counts hash key=4 value=8 entries=16
; An 8-byte value read from fp-4 runs past the frame.
        stw [r10-4], 0
        stw [r10-8], 0
        mov64 r2, r10
        add64 r2, -8
        mov64 r3, r10
        add64 r3, -4
        mov64 r4, 0
        lddw r1, map:counts
        call map_update_elem
        mov64 r0, 0
        exit
