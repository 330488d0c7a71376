; expect: reject jump_range
; linux: same
; A jump from the entry function into its callee.
        mov64 r0, 0
        call callee
        ja inside
callee:
        mov64 r0, 2
inside:
        exit
