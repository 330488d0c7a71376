; expect: reject not_memory
; linux: accept -- Linux lets privileged programs read the kernel's struct bpf_map through a map pointer; ours is a registry handle, not memory
; map counts hash key=4 value=8 entries=16
; A map pointer cannot be read.
        lddw r1, map:counts
        ldxdw r0, [r1+0]
        exit
