; expect: reject ptr_arith
; linux: same
; 32-bit arithmetic truncates a pointer.
        mov64 r2, r10
        add32 r2, -8
        mov64 r0, 0
        exit
