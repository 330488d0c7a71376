; expect: reject ctx_oob
; linux: accept -- Linux checks tracepoint context reads against its 2048-byte maximum at load time and the real size only at attach
; Reads 8 bytes just past the 48-byte vcpu_run_exit context.
        ldxdw r0, [r1+48]
        exit
