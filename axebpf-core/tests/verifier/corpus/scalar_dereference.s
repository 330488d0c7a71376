; expect: reject not_memory
; linux: same
; A number used as an address.
        mov64 r2, 4096
        ldxdw r0, [r2+0]
        exit
