; expect: accept
; linux: same
; A BPF-to-BPF call: the callee gets R1, returns R0.
        ldxw r1, [r1+16]
        call square
        exit
square:
        mov64 r0, r1
        mul64 r0, r1
        exit
