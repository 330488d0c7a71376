; expect: reject atomic_misaligned
; linux: same
; A 64-bit atomic add at fp-12: not aligned to 8.
        stdw [r10-16], 0
        stdw [r10-8], 0
        mov64 r2, 1
        atomic_add64 [r10-12], r2
        mov64 r0, 0
        exit
