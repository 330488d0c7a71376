; expect: reject ptr_leak
; linux: accept -- Linux lets privileged (root) loaders subtract pointers into different regions
; Stack minus context reveals their distance in the address space.
        mov64 r0, r10
        sub64 r0, r1
        exit
