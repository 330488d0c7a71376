; expect: reject jump_range
; linux: same
; A 32-bit ja (gotol) past the end of the program.
        mov64 r0, 0
        ja32 +100
        exit
