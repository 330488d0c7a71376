//! The runtime on the host: both modes of our VM agree on the instructions runtimes got wrong
//! before (rbpf 0.4.1's defects), atomics and local calls run in both, refusals name the
//! instruction, helpers see an aligned stack, program size, W^X.

use axebpf_core::helpers::{BASE_HELPERS, Helper};
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::runtime::{ExecMode, Program, RuntimeError};

const MODES: [ExecMode; 2] = [ExecMode::Jit, ExecMode::Interpreter];

fn insn(opc: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let o = off.to_le_bytes();
    let i = imm.to_le_bytes();
    [opc, (src << 4) | dst, o[0], o[1], i[0], i[1], i[2], i[3]]
}

fn lddw(dst: u8, value: u64) -> [[u8; 8]; 2] {
    [
        insn(0x18, dst, 0, 0, value as u32 as i32),
        insn(0, 0, 0, 0, (value >> 32) as u32 as i32),
    ]
}

fn exit() -> [u8; 8] {
    insn(0x95, 0, 0, 0, 0)
}

fn program(parts: &[&[[u8; 8]]]) -> Vec<u8> {
    parts
        .iter()
        .flat_map(|p| p.iter().flatten())
        .copied()
        .collect()
}

fn run_both(code: &[u8], helpers: &[&Helper]) -> [u64; 2] {
    HostPlatform::install();
    MODES.map(|mode| {
        Program::load(code, mode, helpers)
            .unwrap_or_else(|e| panic!("{mode}: load: {e}"))
            .run(&mut [])
            .unwrap_or_else(|e| panic!("{mode}: run: {e}"))
    })
}

/// r0 = `value` (64-bit), then `op` on r0, exit.
fn unary(value: u64, op: [u8; 8]) -> [u64; 2] {
    run_both(&program(&[&lddw(0, value), &[op, exit()]]), &[])
}

#[test]
fn mov32_reg_clears_the_upper_half() {
    let code = program(&[
        &lddw(1, 0xdead_beef_1234_5678),
        &[insn(0xbc, 0, 1, 0, 0), exit()],
    ]);
    assert_eq!(run_both(&code, &[]), [0x1234_5678; 2]);
}

#[test]
fn le16_and_le32_truncate_be_swaps() {
    let value = 0x1122_3344_5566_7788;
    assert_eq!(unary(value, insn(0xd4, 0, 0, 0, 16)), [0x7788; 2]);
    assert_eq!(unary(value, insn(0xd4, 0, 0, 0, 32)), [0x5566_7788; 2]);
    assert_eq!(unary(value, insn(0xd4, 0, 0, 0, 64)), [value; 2]);
    assert_eq!(unary(value, insn(0xdc, 0, 0, 0, 16)), [0x8877; 2]);
    assert_eq!(unary(value, insn(0xdc, 0, 0, 0, 32)), [0x8877_6655; 2]);
    assert_eq!(
        unary(value, insn(0xdc, 0, 0, 0, 64)),
        [0x8877_6655_4433_2211; 2]
    );
}

#[test]
fn neg64_wraps_at_the_minimum() {
    assert_eq!(unary(1 << 63, insn(0x87, 0, 0, 0, 0)), [1 << 63; 2]);
    assert_eq!(unary(5, insn(0x87, 0, 0, 0, 0)), [5u64.wrapping_neg(); 2]);
}

#[test]
fn jumps_sign_extend_negative_immediates() {
    // r0 = 1 if (r1 OP imm) else 0, for 64-bit unsigned comparisons against imm = -1 / -2.
    let cases: [(u8, u64, i32, u64); 10] = [
        (0x15, u64::MAX, -1, 1),     // jeq: -1 sign-extends to u64::MAX
        (0x15, 0xffff_ffff, -1, 0),  // … so 0xffffffff is not equal
        (0x55, 0xffff_ffff, -1, 1),  // jne
        (0x25, u64::MAX, -2, 1),     // jgt: MAX > MAX-1
        (0x25, 0xffff_ffff, -2, 0),  // jgt: 0xffffffff < MAX-1
        (0x35, u64::MAX - 1, -2, 1), // jge
        (0xa5, 0xffff_ffff, -1, 1),  // jlt
        (0xa5, u64::MAX, -1, 0),     // jlt
        (0xb5, u64::MAX, -1, 1),     // jle
        (0xb5, 0, -2, 1),            // jle
    ];
    for (opc, value, imm, expected) in cases {
        let code = program(&[
            &lddw(1, value),
            &[
                insn(0xb7, 0, 0, 0, 0),
                insn(opc, 1, 0, 1, imm),
                insn(0x05, 0, 0, 1, 0),
                insn(0xb7, 0, 0, 0, 1),
                exit(),
            ],
        ]);
        assert_eq!(
            run_both(&code, &[]),
            [expected; 2],
            "opcode {opc:#x}, r1 {value:#x}, imm {imm}"
        );
        // r1 is restored: r0 = r1 afterwards
        let restore = program(&[
            &lddw(1, value),
            &[insn(opc, 1, 0, 0, imm), insn(0xbf, 0, 1, 0, 0), exit()],
        ]);
        assert_eq!(run_both(&restore, &[]), [value; 2], "r1 not restored");
    }
}

#[test]
fn atomics_run_in_both_modes() {
    // *(u64 *)(r10 - 8) = 40; r1 = 2; lock *(u64 *)(r10 - 8) += r1;
    // r1 = 5; r1 = atomic_fetch_add((u64 *)(r10 - 8), r1); r0 = *(u64 *)(r10 - 8); r0 += r1
    let code = program(&[&[
        insn(0x7a, 10, 0, -8, 40),
        insn(0xb7, 1, 0, 0, 2),
        insn(0xdb, 10, 1, -8, 0x00),
        insn(0xb7, 1, 0, 0, 5),
        insn(0xdb, 10, 1, -8, 0x01),
        insn(0x79, 0, 10, -8, 0),
        insn(0x0f, 0, 1, 0, 0),
        exit(),
    ]]);
    // 47 in memory, plus the 42 fetched.
    assert_eq!(run_both(&code, &[]), [89; 2]);
    // 32-bit cmpxchg: r0 holds the expected value and receives the old one, zero-extended.
    let cmpxchg = program(&[
        &lddw(0, 0xffff_ffff_0000_0007),
        &[
            insn(0x62, 10, 0, -4, 7),
            insn(0xb7, 1, 0, 0, 9),
            insn(0xc3, 10, 1, -4, 0xf1),
            insn(0x61, 1, 10, -4, 0),
            insn(0x67, 1, 0, 0, 32),
            insn(0x0f, 0, 1, 0, 0),
            exit(),
        ],
    ]);
    assert_eq!(run_both(&cmpxchg, &[]), [(9 << 32) | 7; 2]);
}

#[test]
fn refused_instructions_name_the_index_and_the_reason() {
    HostPlatform::install();
    let cases: [(Vec<u8>, usize); 4] = [
        (
            program(&[&[insn(0xb7, 0, 0, 0, 0), insn(0x8d, 0, 0, 0, 0), exit()]]),
            1,
        ),
        (program(&[&[insn(0x20, 0, 0, 0, 0), exit()]]), 0),
        (program(&[&[insn(0x05, 0, 0, 5, 0), exit()]]), 0),
        (
            program(&[&[insn(0xb7, 0, 0, 0, 0), insn(0xbf, 0, 1, 0, 0)]]),
            1,
        ),
    ];
    for (code, index) in cases {
        for mode in MODES {
            let error = Program::load(&code, mode, &[]).unwrap_err();
            let message = error.to_string();
            assert!(matches!(error, RuntimeError::Jit(_)), "{mode}: {message}");
            assert!(
                message.contains(&format!("{index}")),
                "{mode}: {message} should name instruction {index}"
            );
        }
    }
    assert_eq!(
        Program::load(&[0; 12], ExecMode::Interpreter, &[]).unwrap_err(),
        RuntimeError::CodeLength(12)
    );
}

/// A helper whose frame holds a 16-byte-aligned local: with a misaligned stack its address is
/// misaligned (and SSE stores to it fault). Returns the address modulo 16.
fn misalignment(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    #[repr(align(16))]
    struct Aligned([u8; 16]);
    let local = std::hint::black_box(Aligned([7; 16]));
    let address = std::hint::black_box(&local) as *const Aligned as u64;
    address % 16 + u64::from(local.0[15] != 7)
}

axebpf_core::define_helper!(static MISALIGNMENT = (0x7000_0001, "misalignment", misalignment));

#[test]
fn helpers_run_on_an_aligned_stack_in_both_modes() {
    let code = program(&[&[insn(0x85, 0, 0, 0, 0x7000_0001), exit()]]);
    assert_eq!(run_both(&code, &[&MISALIGNMENT]), [0, 0]);
}

#[test]
fn base_helpers_answer_from_the_platform() {
    HostPlatform::set_current_vcpu(3, 5);
    let call = |id: u32| program(&[&[insn(0x85, 0, 0, 0, id as i32), exit()]]);
    use axebpf_core::helpers::*;
    assert_eq!(run_both(&call(GET_CURRENT_VM_ID), &BASE_HELPERS), [3, 3]);
    assert_eq!(run_both(&call(GET_CURRENT_VCPU_ID), &BASE_HELPERS), [5, 5]);
    let [a, b] = run_both(&call(KTIME_GET_NS), &BASE_HELPERS);
    assert!(a > 0 && b >= a, "clock must be monotonic: {a} then {b}");
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    let [a, b] = run_both(&call(GET_SMP_PROCESSOR_ID), &BASE_HELPERS);
    assert!(a < cpus.max(64) && b < cpus.max(64));
}

#[test]
fn unknown_helpers_are_refused_at_load() {
    let code = program(&[&[insn(0x85, 0, 0, 0, 999), exit()]]);
    HostPlatform::install();
    for mode in MODES {
        let error = Program::load(&code, mode, &BASE_HELPERS).unwrap_err();
        assert_eq!(
            error,
            RuntimeError::UnknownHelper { index: 0, id: 999 },
            "{mode}"
        );
    }
}

#[test]
fn large_programs_jit_without_overflowing_the_code_buffer() {
    HostPlatform::install();
    // The costliest instructions to emit (register division/modulo, shifts by register,
    // LD_IMM64), repeated to ~3000 instructions: the code buffer is sized by what the JIT emits.
    let mut code = Vec::new();
    code.extend(lddw(1, 3).iter().flatten());
    code.extend(insn(0xb7, 0, 0, 0, 1_000_000));
    while code.len() / 8 < 3000 {
        for part in [
            insn(0x3f, 0, 1, 0, 0), // div64 r0, r1
            insn(0x9f, 0, 1, 0, 0), // mod64 r0, r1
            insn(0x3c, 0, 1, 0, 0), // div32 r0, r1
            insn(0x6f, 0, 1, 0, 0), // lsh64 r0, r1
            insn(0xcf, 0, 1, 0, 0), // arsh64 r0, r1
            insn(0x07, 0, 0, 0, 1_000_000),
        ] {
            code.extend(part);
        }
        code.extend(lddw(2, 0x1234_5678_9abc_def0).iter().flatten());
    }
    code.extend(exit());
    let [jit, interpreter] = MODES.map(|mode| {
        Program::load(&code, mode, &[])
            .unwrap()
            .run(&mut [])
            .unwrap()
    });
    assert_eq!(jit, interpreter);

    let too_big: Vec<u8> = std::iter::repeat_n(insn(0x07, 0, 0, 0, 1), 5000)
        .flatten()
        .chain(exit())
        .collect();
    assert!(matches!(
        Program::load(&too_big, ExecMode::Jit, &[]).unwrap_err(),
        RuntimeError::TooLarge(5001)
    ));
}

/// The permissions of the mapping containing `address`, from /proc/self/maps.
fn permissions_of(address: usize) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let (start, end) = (
            usize::from_str_radix(start, 16).ok()?,
            usize::from_str_radix(end, 16).ok()?,
        );
        (start..end)
            .contains(&address)
            .then(|| fields.next().unwrap_or("").to_string())
    })
}

#[test]
fn jit_code_is_read_and_execute_only() {
    HostPlatform::install();
    let code = program(&[&[insn(0xb7, 0, 0, 0, 9), exit()]]);
    let loaded = Program::load(&code, ExecMode::Jit, &[]).unwrap();
    assert_eq!(loaded.run(&mut []).unwrap(), 9);
    let (start, len) = loaded.jit_region().expect("a JIT program has code");
    assert_eq!(permissions_of(start).as_deref(), Some("r-xp"));
    assert_eq!(permissions_of(start + len - 1).as_deref(), Some("r-xp"));
    assert!(
        Program::load(&code, ExecMode::Interpreter, &[])
            .unwrap()
            .jit_region()
            .is_none()
    );
}

#[test]
fn local_calls_get_their_own_stack_frame_in_both_modes() {
    // main: *(u32*)(r10-8) = 1; call callee; r0 = *(u32*)(r10-8); exit
    // callee: *(u32*)(r10-8) = 99; r0 = 0; exit
    let code = program(&[&[
        insn(0x62, 10, 0, -8, 1),
        insn(0x85, 0, 1, 0, 2),
        insn(0x61, 0, 10, -8, 0),
        exit(),
        insn(0x62, 10, 0, -8, 99),
        insn(0xb7, 0, 0, 0, 0),
        exit(),
    ]]);
    assert_eq!(
        run_both(&code, &[]),
        [1; 2],
        "the callee's stack is its own"
    );
    // A backward call (`second` calls `first`, laid out before it), r6 preserved across
    // calls, and a callee reaching its caller's frame through a pointer argument.
    let backward = program(&[&[
        insn(0xb7, 6, 0, 0, 30),  // main:   r6 = 30
        insn(0xbf, 1, 10, 0, 0),  //         r1 = r10
        insn(0x07, 1, 0, 0, -4),  //         r1 -= 4
        insn(0x85, 0, 1, 0, 6),   //         call second
        insn(0x61, 0, 10, -4, 0), //         r0 = *(u32 *)(r10 - 4)
        insn(0x0f, 0, 6, 0, 0),   //         r0 += r6
        exit(),                   //
        insn(0x62, 1, 0, 0, 5),   // first:  *(u32 *)(r1 + 0) = 5
        insn(0xb7, 6, 0, 0, 0),   //         r6 = 0 (its callers' r6 survive)
        exit(),                   //
        insn(0xb7, 6, 0, 0, 1),   // second: r6 = 1
        insn(0x85, 0, 1, 0, -5),  //         call first
        insn(0xb7, 0, 0, 0, 0),   //         r0 = 0
        exit(),
    ]]);
    assert_eq!(run_both(&backward, &[]), [35; 2]);
}

#[test]
fn the_host_clock_agrees_with_clock_monotonic() {
    let platform = HostPlatform::install();
    let source = HostPlatform::clock_source();
    let start = std::time::Instant::now();
    let first = platform.monotonic_ns();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let second = platform.monotonic_ns();
    let reference = start.elapsed().as_nanos() as u64;
    let measured = second - first;
    // Within 2 % of CLOCK_MONOTONIC over 50 ms (the calibration is ~1 ppm; scheduling adds the
    // rest), and never backwards.
    assert!(second > first, "{source}: not monotonic");
    assert!(
        measured.abs_diff(reference) < reference / 50,
        "{source}: {measured} ns vs {reference} ns"
    );
}
