//! Filter expressions on the real context structs: every operator, precedence, unsigned
//! semantics at the `u64` boundaries, the tp-lexer defects we work around, and the errors.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use axebpf_core::context::{ALL, ContextHeader, Hypercall, VcpuRunExit};
use axebpf_core::filter::{Filter, FilterError, MAX_COMPARISONS, MAX_DEPTH};
use bytemuck::bytes_of;
use tp_lexer::{BufContext, FieldClassifier, FieldType, Schema};

fn exit(vm_id: u16, exit_reason: u32, value: u64) -> VcpuRunExit {
    VcpuRunExit {
        header: ContextHeader {
            timestamp_ns: 1_000,
            vm_id,
            vcpu_id: 3,
            pcpu_id: 5,
            reserved: 0,
        },
        exit_reason,
        width: 4,
        addr: 0xfee0_0030,
        value,
        aux: 0,
    }
}

fn filter(expr: &str) -> Filter {
    Filter::compile(expr, "vcpu_run_exit").unwrap_or_else(|e| panic!("{e}"))
}

fn matches(expr: &str, ctx: &VcpuRunExit) -> bool {
    filter(expr).matches(bytes_of(ctx))
}

fn error(expr: &str, tracepoint: &str) -> (std::ops::Range<usize>, String) {
    let e = Filter::compile(expr, tracepoint).expect_err(expr);
    (e.span().expect("an expression error"), e.to_string())
}

#[test]
fn the_shell_example() {
    let f = filter("exit_reason == 2 && vm_id == 1");
    assert!(f.matches(bytes_of(&exit(1, 2, 0))));
    assert!(!f.matches(bytes_of(&exit(1, 3, 0))));
    assert!(!f.matches(bytes_of(&exit(2, 2, 0))));
    assert_eq!(f.source(), "exit_reason == 2 && vm_id == 1");
    assert!(Filter::compile("vm_id == 1", "vmm:vcpu_run_exit").is_ok());
}

#[test]
fn every_comparison_operator() {
    let ctx = exit(1, 7, 0);
    for (op, below, equal, above) in [
        ("==", false, true, false),
        ("!=", true, false, true),
        ("<", false, false, true),
        ("<=", false, true, true),
        (">", true, false, false),
        (">=", true, true, false),
    ] {
        assert_eq!(
            matches(&format!("exit_reason {op} 6"), &ctx),
            below,
            "{op} 6"
        );
        assert_eq!(
            matches(&format!("exit_reason {op} 7"), &ctx),
            equal,
            "{op} 7"
        );
        assert_eq!(matches(&format!("exit_reason{op}8"), &ctx), above, "{op} 8");
    }
}

#[test]
fn masks_hex_and_logic() {
    let ctx = exit(1, 9, 0);
    assert!(matches("addr & 0xfff == 0x30", &ctx));
    assert!(matches("addr & 0xFFFF0000 == 4276092928", &ctx));
    assert!(!matches("addr & 0xf0 == 0", &ctx));
    assert!(matches("width & 4 != 0 && exit_reason == 0x9", &ctx));
    assert!(matches("vm_id == 2 || exit_reason == 9", &ctx));
    assert!(!matches("vm_id == 2 || exit_reason == 8", &ctx));
    assert!(matches("((vm_id == 1))", &ctx));
}

#[test]
fn and_binds_tighter_than_or() {
    // vm_id == 1, exit_reason == 9, vcpu_id == 3.
    let ctx = exit(1, 9, 0);
    assert!(matches(
        "vm_id == 1 || exit_reason == 0 && vcpu_id == 0",
        &ctx
    ));
    assert!(!matches(
        "(vm_id == 1 || exit_reason == 0) && vcpu_id == 0",
        &ctx
    ));
    assert!(matches(
        "exit_reason == 0 && vcpu_id == 0 || vm_id == 1",
        &ctx
    ));
    assert!(!matches(
        "exit_reason == 0 && (vcpu_id == 0 || vm_id == 1)",
        &ctx
    ));
}

const BOUNDARIES: [u64; 4] = [0, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX];

/// An operator's text and what it means on `u64`.
type Unsigned = (&'static str, fn(&u64, &u64) -> bool);

#[test]
fn u64_fields_compare_unsigned_at_every_boundary() {
    for value in BOUNDARIES {
        let ctx = exit(1, 1, value);
        for constant in BOUNDARIES {
            let ops: [Unsigned; 6] = [
                ("==", u64::eq),
                ("!=", u64::ne),
                ("<", u64::lt),
                ("<=", u64::le),
                (">", u64::gt),
                (">=", u64::ge),
            ];
            for (op, expect) in ops {
                let want = expect(&value, &constant);
                for text in [format!("{constant}"), format!("{constant:#x}")] {
                    let expr = format!("value {op} {text}");
                    assert_eq!(matches(&expr, &ctx), want, "{value:#x}: {expr}");
                }
            }
            let masked = format!("value & {constant:#x} == {:#x}", value & constant);
            assert!(matches(&masked, &ctx), "{value:#x}: {masked}");
        }
    }
}

/// tp-lexer 0.5.5 compares as `i64`: a `u64` above `i64::MAX` is negative to it, and a
/// constant above `i64::MAX` does not parse. Ours gets both right.
#[test]
fn tp_lexer_defect_u64_compares_signed() {
    static RAW: &[(&str, FieldType, usize, usize)] =
        &[("value", <u64 as FieldClassifier>::FIELD_TYPE, 32, 8)];
    let ctx = exit(1, 1, 0x8000_0000_0000_0000);
    let raw = tp_lexer::compile_with_schema("value > 5", Schema::new(RAW)).unwrap();
    assert!(!raw.evaluate(&BufContext::new(bytes_of(&ctx), &Schema::new(RAW))));
    assert!(matches("value > 5", &ctx));

    let big = "value == 0xffffffffffffffff";
    assert!(tp_lexer::compile_with_schema(big, Schema::new(RAW)).is_err());
    assert!(matches(big, &exit(1, 1, u64::MAX)));
}

/// tp-lexer 0.5.5 fails open: a field its evaluation context does not supply makes the
/// comparison "unknown", and unknown is true. (Its compile step does refuse a field missing
/// from the schema.) Ours resolves every field at compile time and never leaves one unknown.
#[test]
fn tp_lexer_defect_missing_field_passes() {
    static RAW: &[(&str, FieldType, usize, usize)] =
        &[("vm_id", <u16 as FieldClassifier>::FIELD_TYPE, 8, 2)];
    static OTHER: &[(&str, FieldType, usize, usize)] = &[];
    let raw = tp_lexer::compile_with_schema("vm_id == 42", Schema::new(RAW)).unwrap();
    assert!(raw.evaluate(&BTreeMap::<String, String>::new()));
    let ctx = exit(1, 1, 0);
    assert!(raw.evaluate(&BufContext::new(bytes_of(&ctx), &Schema::new(OTHER))));
    assert!(tp_lexer::compile_with_schema("nosuch == 1", Schema::new(RAW)).is_err());

    assert!(!matches("vm_id == 42", &ctx));
    let (span, msg) = error("vm_id == 1 && nosuch == 1", "vcpu_run_exit");
    assert_eq!(span, 14..20);
    assert!(msg.contains("unknown field `nosuch`"), "{msg}");
}

#[test]
fn unknown_field_points_at_the_token() {
    let e = Filter::compile("exit_reasn == 2 && vm_id == 1", "vcpu_run_exit").unwrap_err();
    assert_eq!(e.span(), Some(0..10));
    assert_eq!(
        e.to_string(),
        "exit_reasn == 2 && vm_id == 1\n\
         ^^^^^^^^^^ unknown field `exit_reasn` (fields: timestamp_ns, vm_id, vcpu_id, \
         pcpu_id, exit_reason, width, addr, value, aux)"
    );
    assert!(matches!(e, FilterError::Invalid { .. }));
}

#[test]
fn syntax_errors_point_at_the_token() {
    let deep = format!(
        "{}vm_id == 1{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    let many = vec!["vm_id == 1"; MAX_COMPARISONS + 1].join(" || ");
    let last = many.len() - "vm_id == 1".len()..many.len();
    let cases: Vec<(&str, std::ops::Range<usize>, &str)> = vec![
        ("exit_reason = 2", 12..13, "did you mean `==`?"),
        ("exit_reason | 2", 12..13, "did you mean `||`?"),
        ("exit_reason == -1", 15..16, "negative constant"),
        ("exit_reason == (1)", 15..16, "parenthesised constants"),
        ("exit_reason == 'x'", 15..18, "string constant"),
        ("exit_reason ~ 1", 12..13, "`~` (glob) needs a string field"),
        ("!(vm_id == 1)", 0..1, "unary `!`"),
        ("vm_id == 1 & vm_id == 2", 11..12, "did you mean `&&`?"),
        (
            "vm_id == 1 vm_id == 2",
            11..16,
            "expected `&&`, `||`, `)` or the end",
        ),
        ("(vm_id == 1", 0..1, "unclosed `(`"),
        ("vm_id == 1)", 10..11, "unmatched `)`"),
        (
            "vm_id == 1 &&",
            13..13,
            "expected a field or `(`, found the end",
        ),
        ("", 0..0, "expected a field or `(`"),
        ("()", 1..2, "expected a field or `(`, found `)`"),
        ("vm_id", 5..5, "expected a comparison"),
        (
            "vm_id == 0x10000000000000000",
            9..28,
            "does not fit in 64 bits",
        ),
        ("vm_id == 1e3", 9..12, "invalid constant"),
        ("vm_id == 0x", 9..11, "invalid constant"),
        ("vm_id == 1 && é == 2", 14..16, "unexpected character `é`"),
        ("vm_id == \"open", 9..14, "unterminated string"),
        (&deep, MAX_DEPTH..MAX_DEPTH + 1, "nested parentheses"),
        (&many, last, "more than 64 comparisons"),
    ];
    for (expr, span, message) in cases {
        let (got, msg) = error(expr, "vcpu_run_exit");
        assert_eq!(got, span, "{expr}: {msg}");
        assert!(msg.contains(message), "{expr}: {msg}");
    }
    let (_, msg) = error("vm_id == 1 && é == 2", "vcpu_run_exit");
    assert!(
        msg.ends_with("\n              ^ unexpected character `é`"),
        "{msg}"
    );
    let (_, msg) = error("vm_id ==", "vcpu_run_exit");
    assert!(msg.ends_with("\n        ^ expected an integer constant, found the end"));
}

#[test]
fn hypercall_args_are_four_u64_fields() {
    let ctx = Hypercall {
        header: ContextHeader::default(),
        nr: 3,
        args: [10, 11, u64::MAX, 13],
    };
    let hit = |expr: &str| {
        Filter::compile(expr, "hypercall")
            .unwrap()
            .matches(bytes_of(&ctx))
    };
    assert!(hit("nr == 3 && args0 == 10 && args1 == 11 && args3 == 13"));
    assert!(hit("args2 > 0x7fffffffffffffff"));
    let (span, msg) = error("args == 1", "hypercall");
    assert_eq!(span, 0..4);
    assert!(msg.contains("name one element: args0 … args3"), "{msg}");
    for bad in ["args4 == 1", "args00 == 1", "args01 == 1"] {
        let (_, msg) = error(bad, "hypercall");
        assert!(msg.contains("args0, args1, args2, args3)"), "{msg}");
    }
}

#[test]
fn every_tracepoint_field_compiles_and_reads_its_bytes() {
    for (tracepoint, fields, size) in ALL {
        for field in fields {
            let elements = if field.size > 8 { field.size / 8 } else { 1 };
            for i in 0..elements {
                let (name, offset, width) = if field.size > 8 {
                    (format!("{}{i}", field.name), field.offset + 8 * i, 8)
                } else {
                    (field.name.to_string(), field.offset, field.size)
                };
                let mut ctx = vec![0u8; size];
                let zero = Filter::compile(&format!("{name} == 0"), tracepoint).unwrap();
                let top = Filter::compile(&format!("{name} == 0x80"), tracepoint).unwrap();
                assert!(zero.matches(&ctx), "{tracepoint}.{name}");
                ctx[offset + width - 1] = 0x80;
                let top_value = 0x80u64 << (8 * (width - 1));
                let expr = format!("{name} == {top_value}");
                let exact = Filter::compile(&expr, tracepoint).unwrap();
                assert!(!zero.matches(&ctx) && !top.matches(&ctx) || width == 1);
                assert!(exact.matches(&ctx), "{tracepoint}: {expr}");
            }
        }
    }
}

#[test]
fn short_context_never_matches() {
    let ctx = exit(1, 2, 0);
    let f = filter("vm_id == 1 || vm_id != 1");
    assert!(f.matches(bytes_of(&ctx)));
    assert!(!f.matches(&bytes_of(&ctx)[..47]));
    assert!(!f.matches(&[]));
}

#[test]
fn unknown_tracepoint() {
    let e = Filter::compile("vm_id == 1", "vmm:nope").unwrap_err();
    assert_eq!(e, FilterError::UnknownTracepoint("vmm:nope".into()));
    assert_eq!(e.to_string(), "unknown tracepoint `vmm:nope`");
}

#[test]
fn filters_are_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Filter>();
}

/// Counts this thread's allocations, to show `matches` makes none.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator; the count is a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (via `alloc` above).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn matching_does_not_allocate() {
    let start = ALLOCATIONS.with(Cell::get);
    let f = filter("(value > 5 || addr & 0xfff == 0x30) && exit_reason != 0 && vm_id <= 1");
    assert!(
        ALLOCATIONS.with(Cell::get) > start,
        "the counter counts (compiling allocates)"
    );
    let ctx = exit(1, 2, u64::MAX);
    let short = &bytes_of(&ctx)[..40];
    let before = ALLOCATIONS.with(Cell::get);
    let hits = (0..1000).filter(|_| f.matches(bytes_of(&ctx)) && !f.matches(short));
    assert_eq!(hits.count(), 1000);
    assert_eq!(ALLOCATIONS.with(Cell::get), before);
}
