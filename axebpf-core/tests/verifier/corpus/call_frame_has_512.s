; expect: accept
; linux: same
; With local calls every frame still has 512 bytes: the VM gives each callee its own frame.
        stdw [r10-264], 0
        call callee
        mov64 r0, 0
        exit
callee:
        mov64 r0, 0
        exit
