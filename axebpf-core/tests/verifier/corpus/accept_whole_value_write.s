; expect: accept
; linux: same
; map table array key=4 value=64 entries=4
; Every byte of a 64-byte value, up to the last one.
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, out
        stdw [r0+0], 1
        stdw [r0+8], 2
        stdw [r0+16], 3
        stdw [r0+24], 4
        stdw [r0+32], 5
        stdw [r0+40], 6
        stdw [r0+48], 7
        stdw [r0+56], 8
        stb [r0+63], 9
out:
        mov64 r0, 0
        exit
