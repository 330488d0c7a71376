; expect: reject ptr_leak
; linux: accept -- Linux lets privileged (root) loaders return pointers from tracepoint programs (the value is ignored)
; Returns the frame pointer.
        mov64 r0, r10
        exit
