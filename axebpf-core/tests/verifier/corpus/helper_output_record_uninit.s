; expect: reject stack_uninit
; linux: accept -- Linux lets privileged (root) loaders pass uninitialised stack to helpers
; map events perf_event_array key=4 value=4 entries=64
; The record's last 8 bytes were never written: stale stack would go into the trace.
        stdw [r10-32], 0
        stdw [r10-24], 0
        stdw [r10-16], 0
        lddw r2, map:events
        lddw r3, 0xffffffff
        mov64 r4, r10
        add64 r4, -32
        mov64 r5, 32
        call perf_event_output
        mov64 r0, 0
        exit
