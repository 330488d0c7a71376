; expect: accept
; linux: same
; Subtracting two stack pointers gives their distance, not an address.
        mov64 r2, r10
        mov64 r3, r10
        add64 r3, -8
        sub64 r2, r3
        mov64 r0, r2
        exit
