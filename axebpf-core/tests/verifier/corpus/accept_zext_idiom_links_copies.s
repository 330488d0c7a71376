; expect: accept
; linux: reject -- Linux does not keep the copy link through the lsh/rsh zero-extension pair, so it cannot bound r6
; map table array key=4 value=64 entries=4
; clang's zero-extension idiom: the comparison on the zero-extended copy also bounds the
; original (the shape of exit_latency's bucket index).
        ldxw r6, [r1+16]
        and64 r6, 63
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, out
        mov64 r4, r6
        lsh64 r4, 32
        rsh64 r4, 32
        mov64 r5, 7
        jgt r5, r4, small
        mov64 r6, 7
small:
        lsh64 r6, 3
        add64 r0, r6
        ldxdw r0, [r0+0]
out:
        mov64 r0, 0
        exit
