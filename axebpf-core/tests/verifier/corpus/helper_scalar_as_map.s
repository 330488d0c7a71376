; expect: reject helper_arg
; linux: same
; map_lookup_elem's first argument must be a map.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        mov64 r1, 0
        call map_lookup_elem
        mov64 r0, 0
        exit
