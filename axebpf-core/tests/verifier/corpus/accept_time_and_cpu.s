; expect: accept
; linux: same
; Helpers without arguments; R6 survives the calls.
        call ktime_get_ns
        mov64 r6, r0
        call get_smp_processor_id
        add64 r0, r6
        exit
