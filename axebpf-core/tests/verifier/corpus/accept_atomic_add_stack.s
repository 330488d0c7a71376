; expect: accept
; linux: same
; Atomic adds (64 and 32 bits) on initialised stack slots; the slot stays a scalar.
        stdw [r10-8], 0
        stdw [r10-16], 0
        mov64 r2, 1
        atomic_add64 [r10-8], r2
        atomic_add32 [r10-12], r2
        ldxdw r0, [r10-8]
        ldxw r3, [r10-12]
        add64 r0, r3
        exit
