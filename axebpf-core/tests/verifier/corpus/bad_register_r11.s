; expect: reject bad_insn
; linux: same
; There is no R11.
        mov64 r11, 0
        exit
