; expect: accept
; linux: same
; A loop of 10 iterations.
        mov64 r0, 0
        mov64 r2, 0
again:
        add64 r0, r2
        add64 r2, 1
        jlt r2, 10, again
        exit
