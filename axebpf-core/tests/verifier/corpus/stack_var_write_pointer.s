; expect: reject ptr_leak
; linux: accept -- Linux lets privileged (root) loaders store a pointer at a variable stack offset (it becomes data there)
; The context pointer stored at fp-16 + (i & 8).
        stdw [r10-16], 0
        stdw [r10-8], 0
        ldxw r2, [r1+16]
        and64 r2, 8
        mov64 r3, r10
        add64 r3, -16
        add64 r3, r2
        stxdw [r3+0], r1
        mov64 r0, 0
        exit
