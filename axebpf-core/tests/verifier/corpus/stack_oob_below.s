; expect: reject stack_oob
; linux: same
; 8 bytes below the 512-byte frame.
        stdw [r10-520], 0
        mov64 r0, 0
        exit
