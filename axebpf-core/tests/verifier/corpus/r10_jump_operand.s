; expect: reject bad_insn
; linux: accept -- Linux lets privileged loaders compare pointers; rbpf refuses R10 as a jump's first operand
; R10 as the first operand of a comparison (rbpf refuses it).
        mov64 r0, 0
        jgt r10, r1, out
        mov64 r0, 1
out:
        exit
