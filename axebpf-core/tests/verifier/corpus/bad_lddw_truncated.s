; expect: reject bad_insn
; linux: same
; An lddw without its second slot.
        mov64 r0, 0
        exit
        .insn 0x18, r0, r0, 0, 0
