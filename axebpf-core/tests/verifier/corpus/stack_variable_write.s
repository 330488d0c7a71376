; expect: reject stack_var_offset
; linux: accept -- Linux lets privileged (root) loaders write the stack at bounded variable offsets
; A stack write at a variable offset (the verifier could not track which bytes it
; initialises).
        ldxw r2, [r1+16]
        and64 r2, 8
        mov64 r3, r10
        add64 r3, -16
        add64 r3, r2
        stdw [r3+0], 1
        mov64 r0, 0
        exit
