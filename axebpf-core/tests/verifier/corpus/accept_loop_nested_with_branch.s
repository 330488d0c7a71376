; expect: accept
; linux: same
; Two nested loops of 8 iterations with a data-dependent branch inside: finished states prune
; the branch's joins.
        ldxw r6, [r1+16]
        mov64 r0, 0
        mov64 r2, 0
outer:
        mov64 r3, 0
inner:
        jset r6, 1, odd
        add64 r0, 1
        ja next
odd:
        add64 r0, 2
next:
        add64 r3, 1
        jlt r3, 8, inner
        add64 r2, 1
        jlt r2, 8, outer
        exit
