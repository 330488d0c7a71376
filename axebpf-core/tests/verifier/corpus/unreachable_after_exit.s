; expect: reject unreachable
; linux: same
; Two instructions no path reaches.
        mov64 r0, 0
        exit
        mov64 r0, 1
        exit
