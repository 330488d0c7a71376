; expect: reject unreachable
; linux: same
; An instruction jumped over by every path.
        mov64 r0, 0
        ja +1
        mov64 r0, 1
        exit
