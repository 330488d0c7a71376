; expect: reject stack_var_offset
; linux: same
; An 8-byte write at fp-8 + (i & 15): up to 15 bytes above the frame.
        stdw [r10-8], 0
        ldxw r2, [r1+16]
        and64 r2, 15
        mov64 r3, r10
        add64 r3, -8
        add64 r3, r2
        stdw [r3+0], 1
        mov64 r0, 0
        exit
