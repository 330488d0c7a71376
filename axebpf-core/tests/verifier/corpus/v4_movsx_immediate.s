; expect: reject bad_insn
; linux: same
; movsx has no immediate form (mov64 with off = 8).
        .insn 0xb7, r0, r0, 8, 5
        exit
