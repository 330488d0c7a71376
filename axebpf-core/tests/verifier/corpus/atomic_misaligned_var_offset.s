; expect: reject atomic_misaligned
; linux: same
; map hist array key=4 value=256 entries=1
; A masked index not scaled by 8: `value + i` may be misaligned for an 8-byte atomic.
        ldxw r6, [r1+16]
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:hist
        call map_lookup_elem
        jeq r0, 0, out
        and64 r6, 31
        lsh64 r6, 2
        add64 r0, r6
        mov64 r1, 1
        atomic_add64 [r0+0], r1
out:
        mov64 r0, 0
        exit
