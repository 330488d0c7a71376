; expect: accept
; linux: same
; A stack write at a variable but bounded offset (fp-16 or fp-8) over initialised bytes, read
; back at that offset.
        stdw [r10-16], 1
        stdw [r10-8], 2
        ldxw r2, [r1+16]
        and64 r2, 8
        mov64 r3, r10
        add64 r3, -16
        add64 r3, r2
        stdw [r3+0], 3
        ldxdw r0, [r3+0]
        exit
