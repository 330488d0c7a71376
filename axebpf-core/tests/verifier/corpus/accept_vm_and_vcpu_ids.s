; expect: accept
; linux: skip -- axtrace helpers (ids above Linux range)
; The hypervisor helpers.
        call get_current_vm_id
        mov64 r6, r0
        call get_current_vcpu_id
        add64 r0, r6
        exit
