; expect: reject r10_write
; linux: same
; R10 is read-only.
        mov64 r10, 0
        mov64 r0, 0
        exit
