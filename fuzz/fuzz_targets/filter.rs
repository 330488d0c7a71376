//! Any bytes as a filter expression for `vcpu_run_exit`: `Ok` or a `FilterError` (whose message
//! renders), never a panic or a stack overflow, and a compiled filter evaluates without
//! panicking on the full context and never matches a context one byte short.
#![no_main]

use axebpf_core::context::{Context, VcpuRunExit};
use axebpf_core::filter::{Filter, FilterError};
use libfuzzer_sys::fuzz_target;

/// A `vcpu_run_exit` context whose fields straddle the `i64` boundary (this crate has no
/// bytemuck, so the bytes are laid out from the field table).
fn context() -> [u8; 48] {
    let values = [
        0x8000_0000_0000_0001,
        1,
        2,
        3,
        2,
        4,
        0xfee0_0030,
        u64::MAX,
        i64::MAX as u64,
    ];
    let mut ctx = [0u8; 48];
    for (field, value) in VcpuRunExit::FIELDS.iter().zip(values) {
        let bytes = value.to_le_bytes();
        ctx[field.offset..field.offset + field.size].copy_from_slice(&bytes[..field.size]);
    }
    ctx
}

fuzz_target!(|data: &[u8]| {
    let Ok(expr) = core::str::from_utf8(data) else {
        return;
    };
    let result = Filter::compile(expr, "vcpu_run_exit");
    if let Err(e) = &result {
        let _ = e.to_string();
    }
    match result {
        Ok(filter) => {
            let ctx = &context();
            let _ = filter.matches(ctx);
            assert!(!filter.matches(&ctx[..ctx.len() - 1]));
            assert_eq!(filter.source(), expr);
        }
        // Our own pass refuses everything tp-lexer would: it never sees an invalid rewrite.
        Err(FilterError::Invalid { message, .. }) => {
            assert!(!message.ends_with("(reported by tp-lexer)"), "{message}");
        }
        Err(e) => panic!("{e}"),
    }
});
