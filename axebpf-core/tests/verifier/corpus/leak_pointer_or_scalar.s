; expect: reject ptr_leak
; linux: same
; A scalar or-ed with a pointer.
        mov64 r0, 0
        or64 r0, r10
        exit
