; expect: reject bad_insn
; linux: accept -- rbpf's interpreter cannot run a backward local call (its instruction pointer overflows); the runtime refuses it at load, so the verifier does too
; A non-recursive local call to a function laid out before its caller.
        call f
        exit
g:
        mov64 r0, 1
        exit
f:
        call g
        exit
