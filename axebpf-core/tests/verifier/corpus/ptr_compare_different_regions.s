; expect: reject ptr_compare
; linux: accept -- Linux lets privileged (root) loaders compare pointers into different regions
; Context versus stack.
        mov64 r0, 0
        jgt r1, r10, out
        mov64 r0, 1
out:
        exit
