; expect: reject stack_oob
; linux: same
; map pairs hash key=8 value=8 entries=16
; An 8-byte key read from fp-4 runs past the frame.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:pairs
        call map_lookup_elem
        mov64 r0, 0
        exit
