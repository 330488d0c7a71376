; expect: reject loop
; linux: same
; A jump to itself.
        mov64 r0, 0
        ja -1
        exit
