; expect: reject loop
; linux: same
; A jump to itself: the state repeats unchanged.
        mov64 r0, 0
        ja -1
