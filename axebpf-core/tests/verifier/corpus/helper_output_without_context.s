; expect: reject helper_arg
; linux: same
; map events perf_event_array key=4 value=4 entries=64
; perf_event_output's first argument must be the context.
        stdw [r10-32], 0
        stdw [r10-24], 0
        stdw [r10-16], 0
        stdw [r10-8], 0
        mov64 r1, r10
        lddw r2, map:events
        lddw r3, 0xffffffff
        mov64 r4, r10
        add64 r4, -32
        mov64 r5, 32
        call perf_event_output
        mov64 r0, 0
        exit
