; expect: accept
; linux: same
; The context pointer spilled to the stack and filled back keeps its type.
        stxdw [r10-8], r1
        mov64 r1, 0
        ldxdw r6, [r10-8]
        ldxw r0, [r6+16]
        exit
