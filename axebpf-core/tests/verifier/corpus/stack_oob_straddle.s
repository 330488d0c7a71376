; expect: reject stack_oob
; linux: same
; An 8-byte store at fp-4 runs past the top of the frame (checked before alignment).
        stdw [r10-4], 0
        mov64 r0, 0
        exit
