; expect: reject bad_insn
; linux: same
; A map handle that is not one of the program's maps.
        .insn 0x18, r1, r1, 0, 999
        .insn 0, r0, r0, 0, 0
        mov64 r0, 0
        exit
