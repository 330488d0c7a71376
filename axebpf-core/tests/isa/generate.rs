//! Seeded random programs: straight-line code with forward jumps, every register initialized,
//! stack loads only from slots the prologue stored, and a final fold of r0–r9 into r0.
//!
//! [`program`] gives the base ISA only; [`program_with`] adds, per [`Features`], atomic
//! operations, the ISA v4 instructions and program-local calls (subprograms placed after the
//! program's final `exit`, called by the body). How much of each a program gets is drawn from its
//! seed, so a seed always gives the same program.
// Each test that includes this module uses its own subset of it.
#![allow(dead_code)]

use super::asm::{self, Insn, alu, atomic, class, jmp, size};

/// xorshift64* — deterministic, good enough to pick instructions.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// 32-bit immediates around the edges of every rule (sign extension, masking, widths).
pub const IMM32: [i32; 24] = [
    0,
    1,
    -1,
    i32::MIN,
    i32::MAX,
    0x7fff,
    0xffff,
    31,
    32,
    63,
    64,
    2,
    -2,
    0x8000,
    -0x8000,
    0x1_0000,
    8,
    16,
    33,
    -32,
    -64,
    0x7f,
    0x80,
    -0x80,
];

/// 64-bit constants for LD_IMM64 and register initialization.
pub const IMM64: [u64; 22] = [
    0,
    1,
    2,
    u64::MAX,
    1 << 63,
    (1 << 63) - 1,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0xffff_ffff_0000_0000,
    0x7fff_ffff,
    0xffff_ffff_8000_0000,
    0xffff,
    0x8000,
    0x7fff,
    u64::MAX - 1,
    0x1_ffff_ffff,
    31,
    32,
    63,
    64,
    0xdead_beef_1234_5678,
];

pub fn imm32(rng: &mut Rng) -> i32 {
    if rng.chance(60) {
        rng.pick(&IMM32)
    } else if rng.chance(50) {
        rng.next_u64() as i32
    } else {
        rng.below(256) as i32 - 128
    }
}

pub fn imm64(rng: &mut Rng) -> u64 {
    if rng.chance(60) {
        rng.pick(&IMM64)
    } else if rng.chance(50) {
        rng.next_u64()
    } else {
        i64::from(imm32(rng)) as u64
    }
}

/// Size of the buffer R1 points at (offsets past 127 need a 32-bit displacement in the JIT).
pub const MEM_LEN: usize = 256;
/// Stack slot `k` is `r10 - 8 * k`. Slot 1 holds the R1 pointer; these hold data, stored by the
/// prologue, so every later load reads a written slot. Slots past 16 need a 32-bit displacement
/// in the JIT; slot 64 is the bottom of the stack.
const DATA_SLOTS: [i16; 21] = [
    2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 31, 32, 33, 63, 64,
];

/// Stack slot holding the R1 buffer pointer (in the program and in every subprogram).
const BUFFER_SLOT: i16 = 1;
/// Stack slot where a subprogram keeps the pointer to its caller's region (R2 at entry).
const CALLER_SLOT: i16 = 18;
/// A caller's region: data slots 17 down to 2, contiguous (`r10 - 136 .. r10 - 8`), which a call
/// passes to its callee in R2.
const REGION_SLOT: i16 = 17;
const REGION_LEN: usize = 128;

/// The instruction families [`program_with`] may add to the base ISA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `STX | ATOMIC` in W and DW: add/or/and/xor with and without fetch, xchg, cmpxchg.
    pub atomics: bool,
    /// sdiv/smod, movsx, sign-extending loads, bswap, gotol.
    pub v4: bool,
    /// Program-local calls to one or two subprograms.
    pub calls: bool,
}

impl Features {
    /// The base ISA only (what [`program`] generates).
    pub const BASE: Self = Self {
        atomics: false,
        v4: false,
        calls: false,
    };
    pub const ALL: Self = Self {
        atomics: true,
        v4: true,
        calls: true,
    };

    fn any(self) -> bool {
        self.atomics || self.v4 || self.calls
    }
}

/// A piece of a body. Jumps land only on chunk boundaries, so multi-instruction chunks (which
/// hold a pointer in a register for a moment) are never entered in the middle.
#[derive(Debug, Clone)]
pub enum Chunk {
    Plain(Vec<Insn>),
    /// A jump (`ja`, `gotol` or conditional) to the chunk `skip` chunks after the next one (or to
    /// the epilogue).
    Jump {
        insn: Insn,
        skip: usize,
    },
    /// `pre`, a call of subprogram `callee`, `post`.
    Call {
        pre: Vec<Insn>,
        callee: usize,
        post: Vec<Insn>,
    },
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Plain(insns) => insns.len(),
            Chunk::Jump { .. } => 1,
            Chunk::Call { pre, post, .. } => pre.len() + 1 + post.len(),
        }
    }
}

/// A program-local function, placed after the program's final `exit`: it saves the buffer
/// pointer (R1) and the caller's region pointer (R2), initializes its other registers (except
/// the data arguments R3–R5) and its stack slots, runs its body and folds its registers into R0.
#[derive(Debug, Clone)]
pub struct Subprogram {
    pub prologue: Vec<Insn>,
    pub body: Vec<Chunk>,
    pub epilogue: Vec<Insn>,
}

#[derive(Debug, Clone)]
pub struct Program {
    pub prologue: Vec<Insn>,
    pub body: Vec<Chunk>,
    pub epilogue: Vec<Insn>,
    /// Called from the body (and subprogram `i` may call those after it); an indivisible tail.
    pub subprograms: Vec<Subprogram>,
}

/// `fold r0 with r1..r9` then exit: a bijective mix, so one wrong register changes r0.
pub fn fold_epilogue() -> Vec<Insn> {
    let mut out = Vec::new();
    for r in 1..=9 {
        out.push(asm::alu64_imm(alu::MUL, 0, 0x0100_0193));
        out.push(asm::alu64_reg(alu::XOR, 0, r));
    }
    out.push(asm::exit());
    out
}

fn function_len(prologue: &[Insn], body: &[Chunk], epilogue: &[Insn]) -> usize {
    prologue.len() + body.iter().map(Chunk::len).sum::<usize>() + epilogue.len()
}

/// Appends one function; `subprograms[i]` is the slot where subprogram `i` starts.
fn emit(
    out: &mut Vec<Insn>,
    prologue: &[Insn],
    body: &[Chunk],
    epilogue: &[Insn],
    subprograms: &[usize],
) {
    let mut starts = Vec::with_capacity(body.len() + 1);
    let mut position = out.len() + prologue.len();
    for chunk in body {
        starts.push(position);
        position += chunk.len();
    }
    starts.push(position);
    out.extend_from_slice(prologue);
    for (i, chunk) in body.iter().enumerate() {
        match chunk {
            Chunk::Plain(insns) => out.extend_from_slice(insns),
            Chunk::Jump { insn, skip } => {
                let target = starts[(i + 1 + skip).min(body.len())];
                let distance = target - starts[i] - 1;
                let mut insn = *insn;
                if insn.opc == class::JMP32 | jmp::JA {
                    insn.imm = i32::try_from(distance).expect("short program");
                } else {
                    insn.off = i16::try_from(distance).expect("short program");
                }
                out.push(insn);
            }
            Chunk::Call { pre, callee, post } => {
                out.extend_from_slice(pre);
                let next = out.len() + 1;
                let rel = i32::try_from(subprograms[*callee] - next).expect("short program");
                out.push(asm::call_local(rel));
                out.extend_from_slice(post);
            }
        }
    }
    out.extend_from_slice(epilogue);
}

impl Program {
    pub fn insns(&self) -> Vec<Insn> {
        let mut starts = Vec::with_capacity(self.subprograms.len());
        let mut position = function_len(&self.prologue, &self.body, &self.epilogue);
        for sub in &self.subprograms {
            starts.push(position);
            position += function_len(&sub.prologue, &sub.body, &sub.epilogue);
        }
        let mut out = Vec::with_capacity(position);
        emit(
            &mut out,
            &self.prologue,
            &self.body,
            &self.epilogue,
            &starts,
        );
        for sub in &self.subprograms {
            emit(&mut out, &sub.prologue, &sub.body, &sub.epilogue, &starts);
        }
        out
    }

    pub fn code(&self) -> Vec<u8> {
        asm::assemble(&self.insns())
    }

    /// The same program with body chunk `index` removed (jumps keep their targets, or land on
    /// the chunk after the removed one; the subprograms stay).
    pub fn without_chunk(&self, index: usize) -> Self {
        let mut body = Vec::with_capacity(self.body.len());
        for (i, chunk) in self.body.iter().enumerate() {
            if i == index {
                continue;
            }
            let mut chunk = chunk.clone();
            if let Chunk::Jump { skip, .. } = &mut chunk
                && i < index
                && i + 1 + *skip > index
            {
                *skip -= 1;
            }
            body.push(chunk);
        }
        Self {
            prologue: self.prologue.clone(),
            body,
            epilogue: self.epilogue.clone(),
            subprograms: self.subprograms.clone(),
        }
    }

    pub fn with_epilogue(&self, epilogue: Vec<Insn>) -> Self {
        Self {
            prologue: self.prologue.clone(),
            body: self.body.clone(),
            epilogue,
            subprograms: self.subprograms.clone(),
        }
    }
}

fn reg(rng: &mut Rng) -> u8 {
    rng.below(10) as u8
}

/// A register other than `other`.
fn reg_except(rng: &mut Rng, other: u8) -> u8 {
    (other + 1 + rng.below(9) as u8) % 10
}

/// An aligned offset inside data slot `slot` for an access of `sz`.
fn slot_offset(rng: &mut Rng, sz: u8) -> i16 {
    let slot = rng.pick(&DATA_SLOTS);
    let width = size::bytes(sz);
    let k = rng.below(8 / width) as i16;
    -8 * slot + k * width as i16
}

/// An aligned offset for an access of `sz` inside a region of `len` bytes.
fn offset_in(rng: &mut Rng, sz: u8, len: usize) -> i16 {
    let width = size::bytes(sz);
    (rng.below(len / width) * width) as i16
}

fn mem_offset(rng: &mut Rng, sz: u8) -> i16 {
    offset_in(rng, sz, MEM_LEN)
}

/// Memory a pointer kept in a stack slot gives access to: the R1 buffer, or (in a subprogram)
/// the caller's region.
#[derive(Clone, Copy)]
struct Target {
    slot: i16,
    len: usize,
}

const BUFFER: Target = Target {
    slot: BUFFER_SLOT,
    len: MEM_LEN,
};
const CALLER_REGION: Target = Target {
    slot: CALLER_SLOT,
    len: REGION_LEN,
};

/// What the function a chunk is generated for offers: the new features' mix, whether it is a
/// subprogram (with a caller's region), and the subprograms it may call.
struct Scope {
    mix: Mix,
    in_subprogram: bool,
    callees: std::ops::Range<usize>,
}

/// The share of new-feature chunks and the weights of the features, drawn per program from its
/// seed (so some programs are mostly atomics, some mostly calls, ...).
#[derive(Clone, Copy)]
struct Mix {
    features: Features,
    percent: u64,
    atomics: usize,
    v4: usize,
    calls: usize,
}

impl Mix {
    fn draw(rng: &mut Rng, features: Features) -> Self {
        let weight = |rng: &mut Rng, on: bool, weights: &[usize]| {
            if on { rng.pick(weights) } else { 0 }
        };
        Self {
            features,
            percent: rng.pick(&[10, 20, 30, 40]),
            atomics: weight(rng, features.atomics, &[2, 4, 6]),
            v4: weight(rng, features.v4, &[2, 4, 6]),
            // A call runs a whole subprogram (prologue, body, fold): fewer of them.
            calls: weight(rng, features.calls, &[1, 2, 3]),
        }
    }
}

fn alu_chunk(rng: &mut Rng, is64: bool) -> Vec<Insn> {
    let op = rng.pick(&alu::BINARY);
    let d = reg(rng);
    let by_reg = rng.chance(50);
    let insn = match (is64, by_reg) {
        (true, true) => asm::alu64_reg(op, d, reg(rng)),
        (true, false) => asm::alu64_imm(op, d, imm32(rng)),
        (false, true) => asm::alu32_reg(op, d, reg(rng)),
        (false, false) => asm::alu32_imm(op, d, imm32(rng)),
    };
    Vec::from([insn])
}

fn jump_chunk(rng: &mut Rng) -> Chunk {
    let skip = rng.below(5);
    if rng.chance(5) {
        return Chunk::Jump {
            insn: asm::ja(0),
            skip,
        };
    }
    let op = rng.pick(&jmp::CONDITIONAL);
    let d = reg(rng);
    let insn = match (rng.chance(50), rng.chance(50)) {
        (true, true) => asm::jmp_imm(op, d, imm32(rng), 0),
        (true, false) => asm::jmp32_imm(op, d, imm32(rng), 0),
        // A register against itself sometimes, so equalities are taken too.
        (false, wide) => {
            let s = if rng.chance(15) { d } else { reg(rng) };
            if wide {
                asm::jmp_reg(op, d, s, 0)
            } else {
                asm::jmp32_reg(op, d, s, 0)
            }
        }
    };
    Chunk::Jump { insn, skip }
}

/// Through a pointer kept in a stack slot: fetch the pointer, store, load (the pointer is
/// overwritten by the load, so it never reaches the result).
fn pointer_chunk(rng: &mut Rng, target: Target) -> Vec<Insn> {
    let t = reg(rng);
    let store_size = rng.pick(&size::ALL);
    let store_off = offset_in(rng, store_size, target.len);
    let store = if rng.chance(50) {
        asm::st(store_size, t, store_off, imm32(rng))
    } else {
        asm::stx(store_size, t, reg_except(rng, t), store_off)
    };
    let load_size = rng.pick(&size::ALL);
    let load_off = offset_in(rng, load_size, target.len);
    Vec::from([
        asm::ldx(size::DW, t, 10, -8 * target.slot),
        store,
        asm::ldx(load_size, t, t, load_off),
    ])
}

/// A chunk of the base ISA.
fn base_chunk(rng: &mut Rng) -> Chunk {
    let roll = rng.below(100);
    let plain = |insns: Vec<Insn>| Chunk::Plain(insns);
    match roll {
        0..30 => plain(alu_chunk(rng, true)),
        30..55 => plain(alu_chunk(rng, false)),
        55..59 => {
            let d = reg(rng);
            plain(Vec::from([if rng.chance(50) {
                asm::neg64(d)
            } else {
                asm::neg32(d)
            }]))
        }
        59..65 => {
            let d = reg(rng);
            let width = rng.pick(&[16, 32, 64]);
            plain(Vec::from([if rng.chance(50) {
                asm::le(d, width)
            } else {
                asm::be(d, width)
            }]))
        }
        65..70 => plain(Vec::from(asm::ld_imm64(reg(rng), imm64(rng)))),
        70..76 => {
            let sz = rng.pick(&size::ALL);
            let off = slot_offset(rng, sz);
            plain(Vec::from([if rng.chance(50) {
                asm::st(sz, 10, off, imm32(rng))
            } else {
                asm::stx(sz, 10, reg(rng), off)
            }]))
        }
        76..82 => {
            let sz = rng.pick(&size::ALL);
            let off = slot_offset(rng, sz);
            plain(Vec::from([asm::ldx(sz, reg(rng), 10, off)]))
        }
        82..86 => plain(pointer_chunk(rng, BUFFER)),
        _ => jump_chunk(rng),
    }
}

/// Before a `cmpxchg` on `*(sz *)(base + off)`: R0 set to the value there (a hit), to that value
/// with other upper bits (a hit for W, which compares the low 32 bits), or changed by one (a
/// miss), or left as it is (almost always a miss).
fn cmpxchg_setup(rng: &mut Rng, sz: u8, base: u8, off: i16) -> Vec<Insn> {
    let roll = rng.below(100);
    match roll {
        0..40 => Vec::from([asm::ldx(sz, 0, base, off)]),
        40..55 if sz == size::W => {
            if off.rem_euclid(8) == 0 {
                // The DW whose low half is the word.
                Vec::from([asm::ldx(size::DW, 0, base, off)])
            } else {
                // The word sign-extended.
                Vec::from([
                    asm::ldx(size::W, 0, base, off),
                    asm::alu64_imm(alu::LSH, 0, 32),
                    asm::alu64_imm(alu::ARSH, 0, 32),
                ])
            }
        }
        40..65 => Vec::from([
            asm::ldx(sz, 0, base, off),
            asm::alu64_imm(alu::ADD, 0, rng.pick(&[1, -1, 0x100])),
        ]),
        _ => Vec::new(),
    }
}

/// An atomic operation, W or DW, on an aligned stack slot, buffer or caller's region offset.
fn atomic_chunk(rng: &mut Rng, scope: &Scope) -> Vec<Insn> {
    let sz = rng.pick(&[size::W, size::DW]);
    // cmpxchg twice as often as each other operation: it has hits and misses.
    let op = if rng.chance(18) {
        atomic::CMPXCHG
    } else {
        rng.pick(&atomic::ALL)
    };
    let roll = rng.below(100);
    if roll < 50 {
        let off = slot_offset(rng, sz);
        let mut out = if op == atomic::CMPXCHG {
            cmpxchg_setup(rng, sz, 10, off)
        } else {
            Vec::new()
        };
        out.push(asm::atomic_op(sz, op, 10, reg(rng), off));
        return out;
    }
    let target = if scope.in_subprogram && roll >= 80 {
        CALLER_REGION
    } else {
        BUFFER
    };
    // The pointer's register is neither the operand (its value would reach memory) nor R0
    // (cmpxchg compares and overwrites it).
    let t = 1 + rng.below(9) as u8;
    let s = reg_except(rng, t);
    let off = offset_in(rng, sz, target.len);
    let load_size = rng.pick(&size::ALL);
    let load_off = offset_in(rng, load_size, target.len);
    let mut out = Vec::from([asm::ldx(size::DW, t, 10, -8 * target.slot)]);
    if op == atomic::CMPXCHG {
        out.extend(cmpxchg_setup(rng, sz, t, off));
    }
    out.push(asm::atomic_op(sz, op, t, s, off));
    out.push(asm::ldx(load_size, t, t, load_off));
    out
}

/// An ISA v4 instruction: signed division or modulo (with the edge cases), movsx, a
/// sign-extending load, bswap, or a `gotol` jump.
fn v4_chunk(rng: &mut Rng, scope: &Scope) -> Chunk {
    let roll = rng.below(100);
    let plain = |insns: Vec<Insn>| Chunk::Plain(insns);
    match roll {
        0..32 => {
            let is64 = rng.chance(50);
            let cls = if is64 { class::ALU64 } else { class::ALU };
            let op = rng.pick(&[alu::DIV, alu::MOD]);
            let d = reg(rng);
            let s = reg_except(rng, d);
            let mut out = Vec::new();
            let divisor = match rng.below(10) {
                // INT_MIN / -1 and INT_MIN % -1.
                0 | 1 => {
                    if is64 {
                        out.extend(asm::ld_imm64(d, 1 << 63));
                    } else {
                        out.push(asm::alu32_imm(alu::MOV, d, i32::MIN));
                    }
                    -1
                }
                2 => 0,
                _ => imm32(rng),
            };
            if rng.chance(50) {
                out.push(asm::alu_off(cls, op, false, d, 0, 1, divisor));
            } else {
                // The divisor in a register: set it, or (usually) use what s holds.
                if divisor == -1 || divisor == 0 || rng.chance(20) {
                    out.push(asm::alu64_imm(alu::MOV, s, divisor));
                }
                out.push(asm::alu_off(cls, op, true, d, s, 1, 0));
            }
            plain(out)
        }
        32..50 => {
            let is64 = rng.chance(50);
            let bits = if is64 {
                rng.pick(&[8, 16, 32])
            } else {
                rng.pick(&[8, 16])
            };
            plain(Vec::from([asm::movsx(is64, reg(rng), reg(rng), bits)]))
        }
        50..70 => {
            let sz = rng.pick(&[size::B, size::H, size::W]);
            if rng.chance(60) {
                let off = slot_offset(rng, sz);
                return plain(Vec::from([asm::ldxsx(sz, reg(rng), 10, off)]));
            }
            let target = if scope.in_subprogram && rng.chance(40) {
                CALLER_REGION
            } else {
                BUFFER
            };
            let t = reg(rng);
            let off = offset_in(rng, sz, target.len);
            plain(Vec::from([
                asm::ldx(size::DW, t, 10, -8 * target.slot),
                asm::ldxsx(sz, t, t, off),
            ]))
        }
        70..84 => plain(Vec::from([asm::bswap(reg(rng), rng.pick(&[16, 32, 64]))])),
        _ => Chunk::Jump {
            insn: asm::gotol(0),
            skip: rng.below(5),
        },
    }
}

/// A call: R1 = the buffer pointer, R2 = a pointer to this function's region (or, in a
/// subprogram, the caller's region it was given), R3–R5 = whatever data they hold; after it, R0
/// holds the result and R1–R5 (scratch, not preserved by calls) are set again.
fn call_chunk(rng: &mut Rng, scope: &Scope) -> Chunk {
    let callee = scope.callees.start + rng.below(scope.callees.len());
    let mut pre = if scope.in_subprogram && rng.chance(50) {
        Vec::from([asm::ldx(size::DW, 2, 10, -8 * CALLER_SLOT)])
    } else {
        Vec::from([
            asm::alu64_reg(alu::MOV, 2, 10),
            asm::alu64_imm(alu::ADD, 2, -8 * i32::from(REGION_SLOT)),
        ])
    };
    pre.push(asm::ldx(size::DW, 1, 10, -8 * BUFFER_SLOT));
    let post = (1..=5)
        .map(|r| asm::alu64_imm(alu::MOV, r, imm32(rng)))
        .collect();
    Chunk::Call { pre, callee, post }
}

/// A chunk of the base ISA, or (with the probability and weights of the program's mix) one using
/// a new feature; in a subprogram, sometimes an access to the caller's region.
fn chunk(rng: &mut Rng, scope: &Scope) -> Chunk {
    let mix = scope.mix;
    if mix.features.any() && rng.chance(mix.percent) {
        let calls = if scope.callees.is_empty() {
            0
        } else {
            mix.calls
        };
        let total = mix.atomics + mix.v4 + calls;
        if total > 0 {
            let pick = rng.below(total);
            return if pick < mix.atomics {
                Chunk::Plain(atomic_chunk(rng, scope))
            } else if pick < mix.atomics + mix.v4 {
                v4_chunk(rng, scope)
            } else {
                call_chunk(rng, scope)
            };
        }
    }
    if scope.in_subprogram && rng.chance(8) {
        return Chunk::Plain(pointer_chunk(rng, CALLER_REGION));
    }
    base_chunk(rng)
}

/// Stores to every data slot: an immediate or a register.
fn slot_stores(rng: &mut Rng, out: &mut Vec<Insn>) {
    for slot in DATA_SLOTS {
        out.push(if rng.chance(50) {
            asm::st(size::DW, 10, -8 * slot, imm32(rng))
        } else {
            asm::stx(size::DW, 10, reg(rng), -8 * slot)
        });
    }
}

/// Subprogram `index` of `count`: it may call the ones after it.
fn subprogram(rng: &mut Rng, mix: Mix, index: usize, count: usize) -> Subprogram {
    let mut prologue = Vec::from([
        asm::stx(size::DW, 10, 1, -8 * BUFFER_SLOT),
        asm::stx(size::DW, 10, 2, -8 * CALLER_SLOT),
    ]);
    // R3–R5 are the data arguments; R0 and R6–R9 hold nothing defined at entry.
    for r in [0, 1, 2, 6, 7, 8, 9] {
        prologue.extend(asm::ld_imm64(r, imm64(rng)));
    }
    slot_stores(rng, &mut prologue);
    let scope = Scope {
        mix,
        in_subprogram: true,
        callees: index + 1..count,
    };
    let mut body: Vec<Chunk> = (0..4 + rng.below(12)).map(|_| chunk(rng, &scope)).collect();
    ensure_a_call(rng, &scope, &mut body, 50);
    Subprogram {
        prologue,
        body,
        epilogue: fold_epilogue(),
    }
}

/// With `percent` probability, when `body` may call but does not, inserts a call at a random
/// place (so most programs with subprograms call them).
fn ensure_a_call(rng: &mut Rng, scope: &Scope, body: &mut Vec<Chunk>, percent: u64) {
    let calls = body.iter().any(|c| matches!(c, Chunk::Call { .. }));
    if !calls && !scope.callees.is_empty() && rng.chance(percent) {
        let at = rng.below(body.len() + 1);
        // Jumps across the insertion point keep landing on the same chunk.
        for (i, chunk) in body.iter_mut().enumerate() {
            if let Chunk::Jump { skip, .. } = chunk
                && i < at
                && i + 1 + *skip >= at
            {
                *skip += 1;
            }
        }
        body.insert(at, call_chunk(rng, scope));
    }
}

/// A random program of `chunks` body chunks (base ISA only), and the initial contents of the
/// R1 buffer.
pub fn program(seed: u64, chunks: usize) -> (Program, Vec<u8>) {
    program_with(seed, chunks, Features::BASE)
}

/// A random program of `chunks` body chunks using `features` (with `Features::BASE`, the very
/// program [`program`] gives), and the initial contents of the R1 buffer.
pub fn program_with(seed: u64, chunks: usize, features: Features) -> (Program, Vec<u8>) {
    let mut rng = Rng::new(seed);
    // The mix and the subprograms come from streams of their own, so the program's prologue is
    // the same whatever the features.
    let mut mix_rng = Rng::new(seed ^ 0x0f0f_5eed_a70c_ca11);
    let mix = Mix::draw(&mut mix_rng, features);
    let subprograms = if features.calls {
        mix_rng.pick(&[0, 1, 2, 2])
    } else {
        0
    };
    let mut prologue = Vec::from([asm::stx(size::DW, 10, 1, -8 * BUFFER_SLOT)]);
    for r in 0..=9 {
        prologue.extend(asm::ld_imm64(r, imm64(&mut rng)));
    }
    slot_stores(&mut rng, &mut prologue);
    let scope = Scope {
        mix,
        in_subprogram: false,
        callees: 0..subprograms,
    };
    let mut body: Vec<Chunk> = (0..chunks).map(|_| chunk(&mut rng, &scope)).collect();
    let mem = (0..MEM_LEN).map(|_| rng.next_u64() as u8).collect();
    ensure_a_call(&mut mix_rng, &scope, &mut body, 90);
    let subprograms = (0..subprograms)
        .map(|i| subprogram(&mut mix_rng, mix, i, subprograms))
        .collect();
    (
        Program {
            prologue,
            body,
            epilogue: fold_epilogue(),
            subprograms,
        },
        mem,
    )
}

/// Fixed seeds; each gives `PROGRAMS_PER_SEED` programs, program `i` of seed `s` having the
/// program seed `s * 1_000_003 + i`.
const SEEDS: [u64; 8] = [
    0x5eed_0001,
    0x5eed_0002,
    0x5eed_0003,
    0x5eed_0004,
    0xc0ff_ee00,
    0x0bad_f00d,
    0xdead_beef,
    0x1234_5678,
];
const PROGRAMS_PER_SEED: u64 = 3000;

/// The program seeds of the differential tests (every test that includes this module runs the
/// same programs): `ISA_SEED=<seed>` runs that one program alone.
pub fn program_seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("ISA_SEED") {
        let seed = seed.trim();
        let parsed = match seed.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => seed.parse(),
        };
        return vec![parsed.expect("ISA_SEED must be a number")];
    }
    SEEDS
        .iter()
        .flat_map(|s| {
            (0..PROGRAMS_PER_SEED).map(move |i| s.wrapping_mul(1_000_003).wrapping_add(i))
        })
        .collect()
}
