; expect: reject stack_uninit
; linux: accept -- Linux lets privileged (root) loaders read uninitialised stack; in the hypervisor it may hold another context's data
; The slot is written on one path only.
        ldxw r2, [r1+16]
        jeq r2, 0, skip
        stdw [r10-8], 1
skip:
        ldxdw r0, [r10-8]
        exit
