; expect: accept
; linux: same
; map hist array key=4 value=256 entries=1
; `__sync_fetch_and_add(&hist->slots[i], 1)` with `i` masked: the offset varies but is a
; multiple of 8, so the atomic is aligned (libbpf-tools' log2 histograms).
        ldxw r6, [r1+16]
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:hist
        call map_lookup_elem
        jeq r0, 0, out
        and64 r6, 31
        lsh64 r6, 3
        add64 r0, r6
        mov64 r1, 1
        atomic_add64 [r0+0], r1
out:
        mov64 r0, 0
        exit
