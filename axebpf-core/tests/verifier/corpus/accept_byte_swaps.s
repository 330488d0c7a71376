; expect: accept
; linux: same
; Byte-order conversions on a scalar.
        ldxw r2, [r1+16]
        le16 r2
        be32 r2
        be64 r2
        mov64 r0, r2
        exit
