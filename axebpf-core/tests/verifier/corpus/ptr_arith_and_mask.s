; expect: reject ptr_arith
; linux: same
; Masking a pointer.
        mov64 r2, r10
        and64 r2, -8
        mov64 r0, 0
        exit
