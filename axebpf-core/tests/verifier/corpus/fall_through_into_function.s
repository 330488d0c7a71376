; expect: reject fall_through
; linux: same
; The entry function runs into its callee.
        mov64 r0, 0
        call callee
        mov64 r0, 1
callee:
        mov64 r0, 2
        exit
