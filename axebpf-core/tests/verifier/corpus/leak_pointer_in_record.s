; expect: reject ptr_leak
; linux: accept -- Linux lets privileged (root) loaders pass spilled pointers to helpers as data
; map events perf_event_array key=4 value=4 entries=64
; A spilled pointer inside the record sent to the ring.
        mov64 r6, r1
        stxdw [r10-32], r10
        stdw [r10-24], 0
        stdw [r10-16], 0
        stdw [r10-8], 0
        mov64 r1, r6
        lddw r2, map:events
        lddw r3, 0xffffffff
        mov64 r4, r10
        add64 r4, -32
        mov64 r5, 32
        call perf_event_output
        mov64 r0, 0
        exit
