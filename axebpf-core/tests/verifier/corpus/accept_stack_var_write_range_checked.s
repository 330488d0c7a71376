; expect: accept
; linux: same
; if (i < 8) buf[i] = 1 with a u32 i, over an initialised 8-byte buffer, then the whole
; buffer read back.
        stdw [r10-8], 0
        ldxw r2, [r1+16]
        jgt r2, 7, skip
        mov64 r3, r10
        add64 r3, -8
        add64 r3, r2
        stb [r3+0], 1
skip:
        ldxdw r0, [r10-8]
        exit
