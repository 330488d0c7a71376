; expect: reject loop
; linux: accept -- Linux proves bounded loops by exploring every iteration (this one ends within 32); we refuse every back-edge
; A loop that shifts until zero.
        ldxw r2, [r1+16]
        mov64 r0, 0
top:
        jeq r2, 0, out
        rsh64 r2, 1
        ja top
out:
        exit
