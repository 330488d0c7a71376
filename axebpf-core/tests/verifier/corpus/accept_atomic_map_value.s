; expect: accept
; linux: same
; map vals array key=4 value=16 entries=4
; Atomic operations on a checked map value: add, or, and, xor, 32 and 64 bits, aligned.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        mov64 r1, 1
        atomic_add64 [r0+0], r1
        atomic_or64 [r0+8], r1
        atomic_and32 [r0+8], r1
        atomic_xor32 [r0+12], r1
out:
        mov64 r0, 0
        exit
