; expect: accept
; linux: same
; The smallest valid program.
        mov64 r0, 0
        exit
