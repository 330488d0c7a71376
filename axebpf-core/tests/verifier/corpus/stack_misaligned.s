; expect: reject misaligned
; linux: same
; A 4-byte stack store at fp-6.
        stw [r10-6], 0
        mov64 r0, 0
        exit
