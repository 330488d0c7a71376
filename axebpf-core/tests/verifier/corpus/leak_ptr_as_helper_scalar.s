; expect: reject ptr_leak
; linux: accept -- Linux lets privileged (root) loaders pass pointers as plain helper arguments
; map counts hash key=4 value=8 entries=16
; The frame pointer passed as the flags argument.
        stw [r10-4], 0
        stdw [r10-16], 0
        mov64 r2, r10
        add64 r2, -4
        mov64 r3, r10
        add64 r3, -16
        mov64 r4, r10
        lddw r1, map:counts
        call map_update_elem
        mov64 r0, 0
        exit
