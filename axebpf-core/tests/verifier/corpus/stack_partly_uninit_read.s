; expect: reject stack_uninit
; linux: accept -- Linux lets privileged (root) loaders read uninitialised stack; in the hypervisor it may hold another context's data
; Only the low 4 bytes of the slot were written.
        stw [r10-8], 1
        ldxdw r0, [r10-8]
        exit
