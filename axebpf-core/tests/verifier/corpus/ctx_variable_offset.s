; expect: reject ctx_var_offset
; linux: same
; Context reads need a constant offset.
        ldxw r2, [r1+16]
        and64 r2, 8
        add64 r1, r2
        ldxw r0, [r1+16]
        exit
