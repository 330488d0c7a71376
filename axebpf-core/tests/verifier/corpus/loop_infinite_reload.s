; expect: reject loop
; linux: same
; Waits for a context field to become 0: nothing in the loop changes it, so the state at the
; loop's head repeats.
        mov64 r0, 0
wait:
        ldxw r2, [r1+16]
        jne r2, 0, wait
        exit
