; expect: reject ptr_leak
; linux: accept -- Linux lets privileged (root) loaders treat a spilled pointer as data; the atomic would change the address (or reveal it)
; An atomic add on a slot holding a spilled pointer (the context's).
        stxdw [r10-8], r1
        mov64 r2, 1
        atomic_add64 [r10-8], r2
        mov64 r0, 0
        exit
