; expect: reject uninit_reg
; linux: same
; A callee does not see its caller's R6.
        mov64 r6, 1
        call callee
        exit
callee:
        mov64 r0, r6
        exit
