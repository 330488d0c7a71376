; expect: reject unknown_helper
; linux: same
; No such axtrace helper either.
        call 0x10000003
        mov64 r0, 0
        exit
