; expect: accept
; linux: same
; map table array key=4 value=64 entries=4
; Two paths join before the lookup; both reach the same checked access.
        ldxw r2, [r1+16]
        mov64 r3, 8
        jgt r2, 10, big
        mov64 r3, 16
big:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, out
        ldxdw r1, [r0+56]
out:
        mov64 r0, 0
        exit
