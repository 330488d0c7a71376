; expect: reject stack_oob
; linux: same
; A caller's frame ends 512 bytes below its R10, calls or not.
        stdw [r10-520], 0
        call callee
        mov64 r0, 0
        exit
callee:
        mov64 r0, 0
        exit
