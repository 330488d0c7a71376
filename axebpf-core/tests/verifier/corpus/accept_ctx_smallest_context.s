; expect: accept
; linux: same
; context: vcpu_run_enter
; The last two bytes of the 16-byte vcpu_run_enter context.
        ldxh r0, [r1+14]
        exit
