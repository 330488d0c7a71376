; expect: reject helper_arg
; linux: same
; map counts hash key=4 value=8 entries=16
; Keys come from the stack or a map value, not the context.
        mov64 r2, r1
        lddw r1, map:counts
        call map_lookup_elem
        mov64 r0, 0
        exit
