; expect: reject loop_budget
; linux: same
; A loop that only ends when a context field equals 12345: on other contexts it never ends
; (its counter changes, so no state repeats; the budget runs out).
        ldxw r6, [r1+16]
        mov64 r0, 0
loop:
        add64 r0, 1
        jeq r6, 12345, out
        ja loop
out:
        exit
