; expect: accept
; linux: same
; buf[i & 15] = x; return buf[i & 15] over a 16-byte buffer initialised first (as clang emits
; a masked index into a local array).
        stdw [r10-16], 0
        stdw [r10-8], 0
        ldxw r2, [r1+16]
        and64 r2, 15
        mov64 r3, r10
        add64 r3, -16
        add64 r3, r2
        ldxw r4, [r1+20]
        stxb [r3+0], r4
        ldxb r0, [r3+0]
        ldxdw r5, [r10-16]
        add64 r0, r5
        exit
