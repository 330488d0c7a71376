; expect: reject bad_insn
; linux: same
; An opcode that does not exist.
        .insn 0xff, r0, r0, 0, 0
        exit
