; expect: reject bad_insn
; linux: accept -- Linux runs atomics; the runtime (rbpf 0.4.1) runs none
; An atomic add on the stack.
        stdw [r10-8], 0
        mov64 r2, 1
        .insn 0xdb, r10, r2, -8, 0
        mov64 r0, 0
        exit
