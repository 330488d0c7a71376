; expect: accept
; linux: same
; map table array key=4 value=64 entries=4
; The largest corpus program (for the benchmark): 24 lookups, indexed updates and branches.
        ldxw r6, [r1+16]
        ldxdw r7, [r1+24]
        and64 r6, 7
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip0
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 0
        stxdw [r0+0], r3
        jgt r7, 0, skip0
        add64 r7, r3
        and64 r7, 0xffff
skip0:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip1
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 1
        stxdw [r0+0], r3
        jgt r7, 1000, skip1
        add64 r7, r3
        and64 r7, 0xffff
skip1:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip2
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 2
        stxdw [r0+0], r3
        jgt r7, 2000, skip2
        add64 r7, r3
        and64 r7, 0xffff
skip2:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip3
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 3
        stxdw [r0+0], r3
        jgt r7, 3000, skip3
        add64 r7, r3
        and64 r7, 0xffff
skip3:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip4
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 4
        stxdw [r0+0], r3
        jgt r7, 4000, skip4
        add64 r7, r3
        and64 r7, 0xffff
skip4:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip5
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 5
        stxdw [r0+0], r3
        jgt r7, 5000, skip5
        add64 r7, r3
        and64 r7, 0xffff
skip5:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip6
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 6
        stxdw [r0+0], r3
        jgt r7, 6000, skip6
        add64 r7, r3
        and64 r7, 0xffff
skip6:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip7
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 7
        stxdw [r0+0], r3
        jgt r7, 7000, skip7
        add64 r7, r3
        and64 r7, 0xffff
skip7:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip8
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 8
        stxdw [r0+0], r3
        jgt r7, 8000, skip8
        add64 r7, r3
        and64 r7, 0xffff
skip8:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip9
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 9
        stxdw [r0+0], r3
        jgt r7, 9000, skip9
        add64 r7, r3
        and64 r7, 0xffff
skip9:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip10
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 10
        stxdw [r0+0], r3
        jgt r7, 10000, skip10
        add64 r7, r3
        and64 r7, 0xffff
skip10:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip11
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 11
        stxdw [r0+0], r3
        jgt r7, 11000, skip11
        add64 r7, r3
        and64 r7, 0xffff
skip11:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip12
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 12
        stxdw [r0+0], r3
        jgt r7, 12000, skip12
        add64 r7, r3
        and64 r7, 0xffff
skip12:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip13
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 13
        stxdw [r0+0], r3
        jgt r7, 13000, skip13
        add64 r7, r3
        and64 r7, 0xffff
skip13:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip14
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 14
        stxdw [r0+0], r3
        jgt r7, 14000, skip14
        add64 r7, r3
        and64 r7, 0xffff
skip14:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip15
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 15
        stxdw [r0+0], r3
        jgt r7, 15000, skip15
        add64 r7, r3
        and64 r7, 0xffff
skip15:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip16
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 16
        stxdw [r0+0], r3
        jgt r7, 16000, skip16
        add64 r7, r3
        and64 r7, 0xffff
skip16:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip17
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 17
        stxdw [r0+0], r3
        jgt r7, 17000, skip17
        add64 r7, r3
        and64 r7, 0xffff
skip17:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip18
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 18
        stxdw [r0+0], r3
        jgt r7, 18000, skip18
        add64 r7, r3
        and64 r7, 0xffff
skip18:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip19
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 19
        stxdw [r0+0], r3
        jgt r7, 19000, skip19
        add64 r7, r3
        and64 r7, 0xffff
skip19:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip20
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 20
        stxdw [r0+0], r3
        jgt r7, 20000, skip20
        add64 r7, r3
        and64 r7, 0xffff
skip20:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip21
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 21
        stxdw [r0+0], r3
        jgt r7, 21000, skip21
        add64 r7, r3
        and64 r7, 0xffff
skip21:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip22
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 22
        stxdw [r0+0], r3
        jgt r7, 22000, skip22
        add64 r7, r3
        and64 r7, 0xffff
skip22:
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:table
        call map_lookup_elem
        jeq r0, 0, skip23
        mov64 r2, r6
        lsh64 r2, 3
        add64 r0, r2
        ldxdw r3, [r0+0]
        add64 r3, r7
        xor64 r3, 23
        stxdw [r0+0], r3
        jgt r7, 23000, skip23
        add64 r7, r3
        and64 r7, 0xffff
skip23:
        mov64 r0, 0
        exit
