; expect: reject ptr_leak
; linux: accept -- Linux lets privileged (root) loaders store pointers into map values; we never do
; map vals array key=4 value=16 entries=4
; xchg stores the context pointer into a map value.
        mov64 r6, r1
        stw [r10-4], 0
        mov64 r2, r10
        add64 r2, -4
        lddw r1, map:vals
        call map_lookup_elem
        jeq r0, 0, out
        atomic_xchg64 [r0+0], r6
out:
        mov64 r0, 0
        exit
