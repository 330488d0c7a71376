; expect: accept
; linux: same
; map events perf_event_array key=4 value=4 entries=64
; A 32-byte record from the stack into the ring.
        mov64 r6, r1
        ldxdw r2, [r6+24]
        stdw [r10-32], 0
        stdw [r10-24], 0
        stxdw [r10-16], r2
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
