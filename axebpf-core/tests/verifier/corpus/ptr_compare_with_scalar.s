; expect: reject ptr_compare
; linux: accept -- Linux lets privileged (root) loaders compare pointers with numbers
; Comparing the frame pointer with a number reveals the address bit by bit.
        mov64 r0, 0
        mov64 r2, r10
        jgt r2, 4096, out
        mov64 r0, 1
out:
        exit
