//! Seeded random programs: straight-line code with forward jumps, every register initialized,
//! stack loads only from slots the prologue stored, and a final fold of r0–r9 into r0.

use super::asm::{self, Insn, alu, jmp, size};

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

/// A piece of the body. Jumps land only on chunk boundaries, so multi-instruction chunks (which
/// hold a pointer in a register for a moment) are never entered in the middle.
#[derive(Debug, Clone)]
pub enum Chunk {
    Plain(Vec<Insn>),
    /// A jump to the chunk `skip` chunks after the next one (or to the epilogue).
    Jump {
        insn: Insn,
        skip: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Program {
    pub prologue: Vec<Insn>,
    pub body: Vec<Chunk>,
    pub epilogue: Vec<Insn>,
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

impl Program {
    pub fn insns(&self) -> Vec<Insn> {
        let mut starts = Vec::with_capacity(self.body.len() + 1);
        let mut position = self.prologue.len();
        for chunk in &self.body {
            starts.push(position);
            position += match chunk {
                Chunk::Plain(insns) => insns.len(),
                Chunk::Jump { .. } => 1,
            };
        }
        starts.push(position);
        let mut out = self.prologue.clone();
        for (i, chunk) in self.body.iter().enumerate() {
            match chunk {
                Chunk::Plain(insns) => out.extend_from_slice(insns),
                Chunk::Jump { insn, skip } => {
                    let target = starts[(i + 1 + skip).min(self.body.len())];
                    let mut insn = *insn;
                    insn.off = i16::try_from(target - starts[i] - 1).expect("short program");
                    out.push(insn);
                }
            }
        }
        out.extend_from_slice(&self.epilogue);
        out
    }

    pub fn code(&self) -> Vec<u8> {
        asm::assemble(&self.insns())
    }

    /// The same program with chunk `index` removed (jumps keep their targets, or land on the
    /// chunk after the removed one).
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
        }
    }

    pub fn with_epilogue(&self, epilogue: Vec<Insn>) -> Self {
        Self {
            prologue: self.prologue.clone(),
            body: self.body.clone(),
            epilogue,
        }
    }
}

fn reg(rng: &mut Rng) -> u8 {
    rng.below(10) as u8
}

/// An aligned offset inside data slot `slot` for an access of `sz`.
fn slot_offset(rng: &mut Rng, sz: u8) -> i16 {
    let slot = rng.pick(&DATA_SLOTS);
    let width = size::bytes(sz);
    let k = rng.below(8 / width) as i16;
    -8 * slot + k * width as i16
}

fn mem_offset(rng: &mut Rng, sz: u8) -> i16 {
    let width = size::bytes(sz);
    (rng.below(MEM_LEN / width) * width) as i16
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

fn chunk(rng: &mut Rng) -> Chunk {
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
        82..86 => {
            // Through the R1 buffer: fetch the pointer, store, load (the pointer is overwritten by
            // the load, so it never reaches the result).
            let t = reg(rng);
            let store_size = rng.pick(&size::ALL);
            let store_off = mem_offset(rng, store_size);
            let store = if rng.chance(50) {
                asm::st(store_size, t, store_off, imm32(rng))
            } else {
                let s = (t + 1 + rng.below(9) as u8) % 10;
                asm::stx(store_size, t, s, store_off)
            };
            let load_size = rng.pick(&size::ALL);
            let load_off = mem_offset(rng, load_size);
            plain(Vec::from([
                asm::ldx(size::DW, t, 10, -8),
                store,
                asm::ldx(load_size, t, t, load_off),
            ]))
        }
        _ => jump_chunk(rng),
    }
}

/// A random program of `chunks` body chunks, and the initial contents of the R1 buffer.
pub fn program(seed: u64, chunks: usize) -> (Program, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let mut prologue = Vec::from([asm::stx(size::DW, 10, 1, -8)]);
    for r in 0..=9 {
        prologue.extend(asm::ld_imm64(r, imm64(&mut rng)));
    }
    for slot in DATA_SLOTS {
        prologue.push(if rng.chance(50) {
            asm::st(size::DW, 10, -8 * slot, imm32(&mut rng))
        } else {
            asm::stx(size::DW, 10, reg(&mut rng), -8 * slot)
        });
    }
    let body = (0..chunks).map(|_| chunk(&mut rng)).collect();
    let mem = (0..MEM_LEN).map(|_| rng.next_u64() as u8).collect();
    (
        Program {
            prologue,
            body,
            epilogue: fold_epilogue(),
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
