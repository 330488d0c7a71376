; expect: reject atomic_size
; linux: same
; A 1-byte atomic add (STX|ATOMIC|B): atomics are 4 or 8 bytes.
        stdw [r10-8], 0
        mov64 r2, 1
        .insn 0xd3, r10, r2, -8, 0
        mov64 r0, 0
        exit
