; expect: reject stack_uninit
; linux: accept -- Linux lets privileged (root) loaders read uninitialised stack; in the hypervisor it may hold another context's data
; buf[i & 7] = 1 on an uninitialised 8-byte buffer, then the whole buffer read: the other
; seven bytes may still be uninitialised.
        ldxw r2, [r1+16]
        and64 r2, 7
        mov64 r3, r10
        add64 r3, -8
        add64 r3, r2
        stb [r3+0], 1
        ldxdw r0, [r10-8]
        exit
