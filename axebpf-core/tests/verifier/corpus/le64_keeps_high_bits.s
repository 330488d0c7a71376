; expect: reject map_value_oob
; linux: same
; map vals array key=4 value=16 entries=1
; le64 keeps all 64 bits (a 32-bit-class instruction that must not truncate its bounds):
; shifted right by 40 it may still be up to 2^24, not 0.
        mov64 r6, r1
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        ldxdw r2, [r6+24]
        le64 r2
        rsh64 r2, 40
        add64 r0, r2
        ldxb r0, [r0+0]
        exit
out:
        mov64 r0, 0
        exit
