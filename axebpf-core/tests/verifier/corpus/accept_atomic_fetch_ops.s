; expect: accept
; linux: same
; map vals array key=4 value=16 entries=4
; The fetch forms of or, and, xor, 32 and 64 bits, on a map value and on the stack.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        mov64 r1, 3
        atomic_fetch_or64 [r0+0], r1
        atomic_fetch_and32 [r0+8], r1
        stdw [r10-16], 7
        atomic_fetch_xor64 [r10-16], r1
        mov64 r0, r1
        exit
out:
        mov64 r0, 0
        exit
