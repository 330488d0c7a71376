; expect: accept
; linux: same
; map vals array key=4 value=128 entries=1
; for (i = 0; i < 16; i++) sum += v->b[i]; as clang -O2 emits it (pointer bumped, jne on the
; counter).
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        mov64 r1, 0
        mov64 r2, 0
loop:
        mov64 r3, r0
        add64 r3, r2
        ldxdw r4, [r3+0]
        add64 r1, r4
        add64 r2, 8
        jne r2, 128, loop
        mov64 r0, r1
        exit
out:
        mov64 r0, 0
        exit
