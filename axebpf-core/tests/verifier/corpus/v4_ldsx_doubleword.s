; expect: reject bad_insn
; linux: same
; There is no 8-byte sign-extending load.
        .insn 0x99, r0, r1, 16, 0
        exit
