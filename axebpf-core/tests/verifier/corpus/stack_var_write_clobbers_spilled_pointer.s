; expect: reject stack_uninit
; linux: same
; A byte written at a variable offset that may fall inside a spilled context pointer: the
; slot can no longer be filled as a pointer (nor read: parts of the address may remain).
        stxdw [r10-16], r1
        stdw [r10-8], 0
        ldxw r2, [r1+16]
        and64 r2, 15
        mov64 r3, r10
        add64 r3, -16
        add64 r3, r2
        stb [r3+0], 1
        ldxdw r1, [r10-16]
        ldxw r0, [r1+16]
        exit
