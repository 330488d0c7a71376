; expect: reject r10_write
; linux: accept -- Linux ignores instructions no path can run; rbpf refuses a write to R10 anywhere, so we do too
; A write to R10 is refused even where no path can run it (the runtime refuses it statically).
        mov64 r0, 0
        mov64 r2, 1
        jne r2, 0, out
        ldxdw r10, [r10-8]
out:
        exit
