; expect: accept
; linux: same
; The branch that would dereference a scalar cannot be taken: r2 is the constant 1.
        mov64 r2, 1
        mov64 r3, 0
        jne r2, 0, out
        ldxdw r0, [r3+0]
out:
        mov64 r0, 0
        exit
