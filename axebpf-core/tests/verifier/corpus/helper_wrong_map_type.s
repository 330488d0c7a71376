; expect: reject helper_arg
; linux: same
; map events perf_event_array key=4 value=4 entries=64
; A perf event array has no values to look up.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:events
        call map_lookup_elem
        mov64 r0, 0
        exit
