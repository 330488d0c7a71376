; expect: reject ptr_leak
; linux: same
; A scalar minus a pointer.
        mov64 r0, 0
        sub64 r0, r10
        exit
