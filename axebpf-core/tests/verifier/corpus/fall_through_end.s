; expect: reject fall_through
; linux: same
; No exit.
        mov64 r0, 0
