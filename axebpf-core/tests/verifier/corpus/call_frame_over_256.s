; expect: reject stack_oob
; linux: accept -- Linux gives the frames of a call chain 512 bytes together; rbpf runs each callee 256 bytes below its caller
; With local calls a frame has 256 bytes.
        stdw [r10-264], 0
        call callee
        mov64 r0, 0
        exit
callee:
        mov64 r0, 0
        exit
