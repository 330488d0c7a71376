; expect: accept
; linux: reject -- Linux reserves tracepoint context bytes 0-7 (common fields); ours start with the timestamp
; Reads the header timestamp at context offset 0 and returns it.
        ldxdw r0, [r1+0]
        exit
