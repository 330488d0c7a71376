; expect: reject ptr_arith
; linux: same
; Multiplying a pointer.
        mov64 r2, r10
        mul64 r2, 2
        mov64 r0, 0
        exit
