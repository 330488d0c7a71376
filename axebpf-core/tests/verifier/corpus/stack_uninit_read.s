; expect: reject stack_uninit
; linux: accept -- Linux lets privileged (root) loaders read uninitialised stack; in the hypervisor it may hold another context's data
; Reads stack bytes never written.
        ldxdw r0, [r10-8]
        exit
