; expect: reject unknown_helper
; linux: same
; No such helper.
        call 9999
        mov64 r0, 0
        exit
