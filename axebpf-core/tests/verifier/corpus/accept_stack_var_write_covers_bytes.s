; expect: accept
; linux: reject -- Linux requires stack accesses to be aligned, also at variable offsets; our runtime does not need it
; An 8-byte write at fp-16 + (i & 1) on an uninitialised buffer: every possible offset writes
; fp-15..fp-9, so those bytes are initialised (fp-16 and fp-8 may not be).
        ldxw r2, [r1+16]
        and64 r2, 1
        mov64 r3, r10
        add64 r3, -16
        add64 r3, r2
        stdw [r3+0], 5
        ldxb r0, [r10-15]
        ldxw r4, [r10-12]
        add64 r0, r4
        exit
