; expect: reject ctx_oob
; linux: accept -- Linux 6.18 compares a tracepoint context offset with sizeof(void *) as unsigned, so a negative offset passes its check
; A negative context offset.
        ldxw r0, [r1-4]
        exit
