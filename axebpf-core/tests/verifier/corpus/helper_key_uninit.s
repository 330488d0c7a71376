; expect: reject stack_uninit
; linux: accept -- Linux lets privileged (root) loaders pass uninitialised stack to helpers
; map counts hash key=4 value=8 entries=16
; The key bytes were never written.
        mov64 r2, r10
        add64 r2, -8
        lddw r1, map:counts
        call map_lookup_elem
        mov64 r0, 0
        exit
