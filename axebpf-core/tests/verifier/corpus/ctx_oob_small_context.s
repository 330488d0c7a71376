; expect: reject ctx_oob
; linux: accept -- Linux checks tracepoint context reads against its 2048-byte maximum at load time and the real size only at attach
; context: vcpu_run_enter
; vcpu_run_enter has only the 16-byte header.
        ldxw r0, [r1+16]
        exit
