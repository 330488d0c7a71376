//! [`Vm::run`] (decoding each slot as it is reached) against [`Vm::run_decoded`] (slots decoded
//! once, as the runtime runs them): on the differential test's random programs and
//! on random slot soup (every opcode byte, registers up to 15, wild offsets — nearly all of it
//! errors), each must give the same r0 or the same error at the same pc, and leave the same
//! context bytes. Plus the lazily zeroed stack: a frame reads as zeros whenever it is entered.

#[path = "../../tests/isa/asm.rs"]
mod asm;
#[path = "../../tests/isa/generate.rs"]
mod generate;

use axebpf_vm::insn::{Insn, LdImm64, alu, atomic, class, jmp, mode, size, source};
use axebpf_vm::{Error, Helper, MAX_FRAMES, Slot, Vm, decode};
use generate::{Features, Rng};

/// What a run gives: r0 or the error (as text, VM addresses made relative), and the context
/// after it.
type Outcome = (Result<u64, String>, Vec<u8>);

/// Runs `f` on an 8-aligned copy of `mem` (atomics care about alignment) in `storage`, the
/// same buffer for every run so that context addresses agree.
fn on_copy(
    storage: &mut [u8],
    mem: &[u8],
    f: impl FnOnce(&mut [u8]) -> Result<u64, String>,
) -> Outcome {
    let start = storage.as_ptr().align_offset(8);
    let buffer = &mut storage[start..start + mem.len()];
    buffer.copy_from_slice(mem);
    let result = f(buffer);
    (result, buffer.to_vec())
}

/// Stack addresses differ between the two runs' VMs: numbers inside the VM (`vm..vm + size`)
/// become offsets from it.
fn normalise(text: String, vm: u64, size: u64) -> String {
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find(|c: char| c.is_ascii_digit()) {
        out.push_str(&rest[..i]);
        let digits = rest[i..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(rest.len(), |n| i + n);
        let n: u64 = rest[i..digits].parse().unwrap_or(0);
        if n.wrapping_sub(vm) < size {
            out.push_str(&format!("vm+{}", n - vm));
        } else {
            out.push_str(&rest[i..digits]);
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

fn show<E: std::fmt::Debug, V>(result: Result<u64, E>, vm: &V) -> Result<u64, String> {
    let (at, size) = (vm as *const V as u64, size_of::<V>() as u64);
    match result {
        Ok(r0) if r0.wrapping_sub(at) < size => Err(format!("r0 = vm+{}", r0 - at)),
        Ok(r0) => Ok(r0),
        Err(e) => Err(normalise(format!("{e:?}"), at, size)),
    }
}

extern "C" fn sum(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
    a.wrapping_add(b)
        .wrapping_add(c)
        .wrapping_add(d)
        .wrapping_add(e)
}

const HELPERS: [Option<Helper>; 3] = [None, Some(sum), None];

/// Runs `code` with `run` and `run_decoded`; panics on any difference.
fn check(what: &str, code: &[u8], mem: &[u8], budget: u64) -> Outcome {
    let mut storage = vec![0u8; mem.len() + 8];
    let bytes = on_copy(&mut storage, mem, |ctx| {
        let mut vm = Box::new(Vm::new(&HELPERS));
        vm.set_budget(budget);
        let result = vm.run(code, ctx);
        show(result, &*vm)
    });
    let decoded = on_copy(&mut storage, mem, |ctx| {
        let mut vm = Box::new(Vm::new(&HELPERS));
        let slots: Vec<Slot> = match decode(code) {
            Ok(slots) => slots.collect(),
            Err(e) => return show(Err(e), &*vm),
        };
        vm.set_budget(budget);
        let result = vm.run_decoded(&slots, ctx);
        show(result, &*vm)
    });
    assert_eq!(bytes, decoded, "{what}: run_decoded differs from run");
    bytes
}

#[test]
fn random_programs_run_alike_from_bytes_and_decoded() {
    let mut ok = 0;
    for seed in generate::program_seeds().into_iter().step_by(4) {
        for features in [Features::BASE, Features::ALL] {
            let (program, mem) = generate::program_with(seed, 30, features);
            let (result, _) = check(&format!("seed {seed:#x}"), &program.code(), &mem, 1 << 20);
            ok += usize::from(result.is_ok());
        }
    }
    // The generator's programs are valid: nearly all must run to their exit.
    assert!(ok > 5000, "only {ok} programs ran to their exit");
}

/// A random slot: any opcode byte (or, half the time, one of the defined ones with random
/// fields), registers up to 15, offsets that jump in and out of the program.
fn soup_slot(rng: &mut Rng, len: usize) -> Insn {
    const DEFINED: [u8; 24] = [
        0x07, 0x0f, 0x04, 0x0c, 0xb7, 0xbf, 0xb4, 0xbc, 0x3f, 0x9f, 0xd4, 0xdc, 0xd7, 0x18, 0x61,
        0x79, 0x91, 0x62, 0x7b, 0xdb, 0xc3, 0x85, 0x95, 0x05,
    ];
    let opcode = if rng.chance(50) {
        rng.pick(&DEFINED) | if rng.chance(20) { 0x08 } else { 0 }
    } else {
        rng.next_u64() as u8
    };
    let reg = |rng: &mut Rng| {
        if rng.chance(10) {
            rng.below(16) as u8
        } else {
            rng.pick(&[0, 1, 1, 2, 3, 10])
        }
    };
    let (dst, src) = (reg(rng), reg(rng));
    let off = match rng.below(4) {
        0 => rng.pick(&[-512, -8, -1, 0, 1, 8, 16, 32, 64, 256]),
        1 => rng.below(len + 2) as i16 - 1,
        2 => rng.pick(&[1, 8, 16, 32]),
        _ => rng.next_u64() as i16,
    };
    let imm = match rng.below(4) {
        0 => rng.pick(&[
            0,
            1,
            2,
            16,
            32,
            64,
            -1,
            atomic::XCHG,
            atomic::CMPXCHG,
            atomic::ADD | atomic::FETCH,
        ]),
        1 => rng.below(len + 2) as i32 - 1,
        _ => rng.next_u64() as i32,
    };
    Insn::new(opcode, dst, src, off, imm)
}

#[test]
fn slot_soup_fails_and_runs_alike_from_bytes_and_decoded() {
    let mut rng = Rng::new(0x50u64 << 32 | 0x0bad_c0de);
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..40_000 {
        let len = 1 + rng.below(12);
        let mut insns: Vec<Insn> = (0..len).map(|_| soup_slot(&mut rng, len)).collect();
        if rng.chance(50) {
            insns.push(Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0));
        }
        let mut code: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
        if rng.chance(1) {
            code.truncate(code.len() - 1 - rng.below(7));
        }
        let mem: Vec<u8> = (0..64).map(|_| rng.next_u64() as u8).collect();
        let budget = if rng.chance(5) {
            rng.below(5) as u64
        } else {
            1000
        };
        let (result, _) = check(&format!("soup {i}: {insns:x?}"), &code, &mem, budget);
        let key = match result {
            Ok(_) => "ok".to_string(),
            Err(e) => e
                .split_once("kind: ")
                .map_or(e.as_str(), |(_, kind)| kind)
                .split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or("?")
                .to_string(),
        };
        *outcomes.entry(key).or_default() += 1;
    }
    println!("{outcomes:#?}");
    assert!(
        outcomes.len() >= 8,
        "too few kinds of outcome: {outcomes:?}"
    );
}

// --- The lazily zeroed stack ------------------------------------------------------------------

fn code(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

fn both(insns: &[Insn], vm: &mut Vm<'_>) -> Result<u64, Error> {
    let code = code(insns);
    let slots: Vec<Slot> = decode(&code).unwrap().collect();
    let decoded = vm.run_decoded(&slots, &mut []);
    assert_eq!(vm.run(&code, &mut []), decoded);
    decoded
}

/// Fills frame 0 with ones, then exits with `r0 = 0x7e`.
fn dirty_frame() -> Vec<Insn> {
    let mut insns: Vec<Insn> = (1..=64)
        .map(|i| Insn::new(class::ST | mode::MEM | size::DW, 10, 0, -8 * i, -1))
        .collect();
    insns.push(Insn::new(class::ALU64 | alu::MOV, 0, 0, 0, 0x7e));
    insns.push(Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0));
    insns
}

fn ldx(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::LDX | mode::MEM | sz, dst, src, off, 0)
}

#[test]
fn a_fresh_run_reads_zeros_wherever_the_last_one_wrote() {
    let mut vm = Vm::new(&HELPERS);
    assert_eq!(both(&dirty_frame(), &mut vm), Ok(0x7e));
    for off in [-512, -511, -257, -64, -9, -8, -1] {
        for sz in [size::B, size::H, size::W, size::DW] {
            if i32::from(off) + size_of_access(sz) > 0 {
                continue;
            }
            let read = [
                ldx(sz, 0, 10, off),
                Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0),
            ];
            assert_eq!(both(&read, &mut vm), Ok(0), "load of {sz:#x} at r10{off}");
            assert_eq!(both(&dirty_frame(), &mut vm), Ok(0x7e));
        }
    }
    // A store low in the frame, then a load between it and the top: zeros, not the old bytes.
    let insns = [
        Insn::new(class::ST | mode::MEM | size::B, 10, 0, -500, 5),
        ldx(size::DW, 0, 10, -256),
        ldx(size::B, 1, 10, -500),
        Insn::new(class::ALU64 | alu::ADD | source::X, 0, 1, 0, 0),
        Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0),
    ];
    assert_eq!(both(&insns, &mut vm), Ok(5));
}

fn size_of_access(sz: u8) -> i32 {
    size::bytes(sz) as i32
}

#[test]
fn a_callee_frame_reads_zeros_each_time_it_is_entered() {
    let call = |rel: i32| Insn::new(class::JMP | jmp::CALL, 0, 1, 0, rel);
    let exit = Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0);
    let mov = |dst: u8, imm: i32| Insn::new(class::ALU64 | alu::MOV, dst, 0, 0, imm);
    let add_x = |dst: u8, src: u8| Insn::new(class::ALU64 | alu::ADD | source::X, dst, src, 0, 0);
    // g(r1): r0 = the sum of three never-written slots of its frame (its top, middle and
    // lowest bytes), plus, when r1 > 0, g(r1 - 1); then it fills its frame with nines.
    let mut g = vec![
        ldx(size::DW, 0, 10, -8),
        ldx(size::DW, 2, 10, -400),
        add_x(0, 2),
        ldx(size::B, 2, 10, -512),
        add_x(0, 2),
        Insn::new(class::JMP | jmp::JEQ, 1, 0, 5, 0),
        Insn::new(class::ALU64 | alu::MOV | source::X, 6, 0, 0, 0),
        Insn::new(class::ALU64 | alu::SUB, 1, 0, 0, 1),
        call(-9), // g itself
        add_x(0, 6),
    ];
    g.extend((1..=64).map(|i| Insn::new(class::ST | mode::MEM | size::DW, 10, 0, -8 * i, 9)));
    g.push(exit);
    // main: *(r10 - 8) = 3; r0 = g(depth) + g(depth); r0 += *(r10 - 8) (still 3).
    for depth in [0, 1, MAX_FRAMES as i32 - 2] {
        let mut insns = vec![
            Insn::new(class::ST | mode::MEM | size::DW, 10, 0, -8, 3),
            mov(1, depth),
            call(7),
            Insn::new(class::ALU64 | alu::MOV | source::X, 6, 0, 0, 0),
            mov(1, depth),
            call(4),
            add_x(0, 6),
            ldx(size::DW, 1, 10, -8),
            add_x(0, 1),
            exit,
        ];
        insns.extend(g.iter().copied());
        let mut vm = Vm::new(&HELPERS);
        assert_eq!(both(&insns, &mut vm), Ok(3), "calls {depth} deep");
        // Once more on the same VM, whose frames are all dirty now.
        assert_eq!(both(&insns, &mut vm), Ok(3), "calls {depth} deep, again");
    }
}

/// A helper reading 64 bytes from its first argument (the program's stack).
extern "C" fn sum64(p: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the programs below pass a pointer to at least 64 bytes of their live stack.
    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, 64) };
    bytes.iter().map(|&b| u64::from(b)).sum()
}

#[test]
fn helpers_read_zeros_from_never_written_stack() {
    let helpers: [Option<Helper>; 1] = [Some(sum64)];
    let mut vm = Vm::new(&helpers);
    assert_eq!(both(&dirty_frame(), &mut vm), Ok(0x7e));
    for off in [-64, -128, -512] {
        let insns = [
            Insn::new(class::ST | mode::MEM | size::B, 10, 0, -1, 7),
            Insn::new(class::ALU64 | alu::MOV | source::X, 1, 10, 0, 0),
            Insn::new(class::ALU64 | alu::ADD, 1, 0, 0, off),
            Insn::new(class::JMP | jmp::CALL, 0, 0, 0, 0),
            Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0),
        ];
        let expected = if off == -64 { 7 } else { 0 };
        assert_eq!(both(&insns, &mut vm), Ok(expected), "pointer r10{off}");
        assert_eq!(both(&dirty_frame(), &mut vm), Ok(0x7e));
    }
}

#[test]
fn ld_imm64_second_slot_and_decoded_length() {
    let [a, b] = LdImm64::split(3, 0x1122_3344_5566_7788);
    let insns = [
        Insn::new(class::JMP | jmp::JA, 0, 0, 1, 0),
        a,
        b,
        Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0),
    ];
    let mut vm = Vm::new(&HELPERS);
    let err = both(&insns, &mut vm).unwrap_err();
    assert_eq!(err.pc, 2);
    assert_eq!(decode(&code(&insns)).unwrap().len(), 4);
    assert!(decode(&[]).is_err());
    assert!(decode(&[0; 12]).is_err());
    assert_eq!(vm.run_decoded(&[], &mut []).unwrap_err().pc, 0);
}
