; expect: reject stack_uninit
; linux: accept -- Linux lets privileged (root) loaders read uninitialised stack; in the hypervisor it may hold another context's data
; An atomic add on a stack slot nothing initialised.
        mov64 r2, 1
        atomic_add64 [r10-8], r2
        mov64 r0, 0
        exit
