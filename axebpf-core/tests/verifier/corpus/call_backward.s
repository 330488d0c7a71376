; expect: accept
; linux: same
; A non-recursive local call to a function laid out before its caller.
        call f
        exit
g:
        mov64 r0, 1
        exit
f:
        call g
        exit
