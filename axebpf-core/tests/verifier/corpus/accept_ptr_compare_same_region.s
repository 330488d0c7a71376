; expect: accept
; linux: same
; Comparing two pointers into the same stack frame reveals only their order.
        mov64 r2, r10
        add64 r2, -8
        mov64 r0, 0
        jgt r2, r10, out
        mov64 r0, 1
out:
        exit
