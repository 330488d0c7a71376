; expect: reject ptr_leak
; linux: accept -- Linux lets privileged (root) loaders copy the low half of a pointer
; The low half of the frame pointer as a number.
        mov32 r0, r10
        exit
