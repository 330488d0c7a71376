; expect: reject r10_write
; linux: same
; fetch_add writes the old value into its source: here R10.
        stdw [r10-8], 0
        .insn 0xdb, r10, r10, -8, 1
        mov64 r0, 0
        exit
