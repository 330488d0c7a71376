//! The x86-64 backend: an emitter of just the instruction forms an eBPF JIT needs, and the
//! translation of every [`Op`] into them (System V calling convention).
//!
//! Register map (as Linux's JIT): r0 = rax, r1 = rdi, r2 = rsi, r3 = rdx, r4 = rcx, r5 = r8,
//! r6 = rbx, r7 = r13, r8 = r14, r9 = r15, r10 = rbp; r9, r10 and r11 (all caller-saved) are
//! scratch. r1–r5 are the helpers' argument registers in order and caller-saved, as in the eBPF
//! ABI; r6–r10 are callee-saved: helpers are called directly, with nothing saved around them.
//!
//! Code layout: the entry sequence at offset 0 saves the callee-saved registers the program
//! uses (rbx, r13–r15 for the r6–r9 it names, rbp if it uses r10), reserves the frames (if it
//! uses r10) and points r10 at the top of frame 0, zeroes the r0 and r2–r9 it names, then the
//! main program follows in place: its `exit`s undo the entry sequence and return. Subprograms
//! are native functions after it (their `exit` is a `ret`), called with the r6–r9 the program
//! uses pushed and r10 moved down one frame. Every function body runs at `rsp ≡ 0 (mod 16)`
//! when it calls anything (the entry sequence pads its reservation, a local call pads its
//! pushes to an odd number of slots), so a helper call is just `call`, System V aligned.
//! Jumps to slots are `rel8` when the first pass's layout shows they reach ([`Labels::near`]),
//! else `rel32`; the short jumps inside one instruction's sequence are `rel8`.

use alloc::vec::Vec;

use super::{Backend, Fixup, Labels, Op, Operand, Program};
use crate::STACK_SIZE;
use crate::insn::{alu, atomic, jmp};

// Hardware register numbers.
const RAX: u8 = 0;
const RCX: u8 = 1;
const RDX: u8 = 2;
const RBX: u8 = 3;
const RSP: u8 = 4;
const RBP: u8 = 5;
const RSI: u8 = 6;
const RDI: u8 = 7;
const R8: u8 = 8;
const R9: u8 = 9;
const R10: u8 = 10;
const R11: u8 = 11;
const R13: u8 = 13;
const R14: u8 = 14;
const R15: u8 = 15;

/// The x86-64 register of each eBPF register.
const REG: [u8; 11] = [RAX, RDI, RSI, RDX, RCX, R8, RBX, R13, R14, R15, RBP];
/// Scratch registers no eBPF register lives in (all caller-saved, so never saved).
const AUX: u8 = R11;
const AUX2: u8 = R10;
const AUX3: u8 = R9;

/// Condition codes (the low nibble of `jcc`).
mod cc {
    pub const B: u8 = 0x2;
    pub const AE: u8 = 0x3;
    pub const E: u8 = 0x4;
    pub const NE: u8 = 0x5;
    pub const BE: u8 = 0x6;
    pub const A: u8 = 0x7;
    pub const L: u8 = 0xc;
    pub const GE: u8 = 0xd;
    pub const LE: u8 = 0xe;
    pub const G: u8 = 0xf;
}

/// Opcode bytes of the `op r/m, reg` form and the `/digit` of the `op r/m, imm` form.
mod arith {
    pub const ADD: (u8, u8) = (0x01, 0);
    pub const OR: (u8, u8) = (0x09, 1);
    pub const AND: (u8, u8) = (0x21, 4);
    pub const SUB: (u8, u8) = (0x29, 5);
    pub const XOR: (u8, u8) = (0x31, 6);
    pub const CMP: (u8, u8) = (0x39, 7);
}

/// The x86-64 code generator.
#[derive(Debug)]
pub struct X86_64 {
    code: Vec<u8>,
    /// Bytes of the frames, reserved only when the program uses r10.
    stack_size: usize,
    /// The program uses r10 (so the frames exist and rbp points at them).
    frames: bool,
    /// Callee-saved registers the entry sequence saves, in push order.
    saved: Vec<u8>,
    /// Bytes the entry sequence reserves below the saved registers (frames and padding).
    reserved: i32,
    /// eBPF r6–r9 registers the program uses: what a local call saves around the callee.
    preserved: Vec<u8>,
    /// The slot where the main program (run in place, after the entry sequence) ends.
    main_end: usize,
    /// The registers the program uses ([`Program::registers`]).
    used: u16,
}

impl Backend for X86_64 {
    fn new(program: &Program) -> Self {
        let used = program.registers();
        let uses = |r: usize| used & (1 << r) != 0;
        let frames = uses(10);
        // eBPF r6–r9 live in callee-saved registers, as does r10 (rbp).
        let preserved: Vec<u8> = (6..10).filter(|&r| uses(r)).map(|r| REG[r]).collect();
        let mut saved = preserved.clone();
        if frames {
            saved.insert(0, RBP);
        }
        let stack_size = if frames { program.stack_size() } else { 0 };
        // The body must run at rsp ≡ 0 (mod 16) if it calls anything: the return address and
        // the saved registers leave rsp ≡ 8 × (1 + saved); the frames are a multiple of 16.
        let calls = program.calls_helpers() || program.calls_locally();
        let pad = if calls && saved.len().is_multiple_of(2) {
            8
        } else {
            0
        };
        Self {
            code: Vec::with_capacity(program.ops.len() * 8 + 64),
            stack_size,
            frames,
            saved,
            reserved: (stack_size + pad) as i32,
            preserved,
            main_end: program.main_end(),
            used,
        }
    }

    fn prologue(&mut self, _labels: &mut Labels) {
        for i in 0..self.saved.len() {
            self.push(self.saved[i]);
        }
        if self.reserved != 0 {
            self.alu_ri(true, arith::SUB, RSP, self.reserved);
        }
        if self.frames {
            self.rm(true, &[0x8d], RBP, RSP, self.stack_size as i32); // lea rbp, [rsp + frames]
        }
        // eBPF r0 and r2–r9 start at zero (r1 is the argument); one the program never names
        // cannot be observed.
        let used = self.used;
        for r in [0, 2, 3, 4, 5, 6, 7, 8, 9] {
            if used & (1 << r) != 0 {
                self.zero(REG[r]);
            }
        }
        // Slot 0 follows: the main program runs in place.
    }

    fn position(&self) -> usize {
        self.code.len()
    }

    fn emit(&mut self, pc: usize, op: &Op, labels: &mut Labels) {
        match *op {
            Op::Alu { wide, op, dst, src } => self.alu(wide, op, REG[dst as usize], src),
            Op::Neg { wide, dst } => self.rr(wide, &[0xf7], 3, REG[dst as usize]),
            Op::DivMod {
                wide,
                signed,
                modulo,
                dst,
                src,
            } => self.div_mod(wide, signed, modulo, REG[dst as usize], src),
            Op::MovSx {
                wide,
                bits,
                dst,
                src,
            } => {
                let (d, s) = (REG[dst as usize], REG[src as usize]);
                match bits {
                    8 => self.rr8(wide, &[0x0f, 0xbe], d, s), // movsx d, s8
                    16 => self.rr(wide, &[0x0f, 0xbf], d, s), // movsx d, s16
                    _ => self.rr(true, &[0x63], d, s),        // movsxd d, s32
                }
            }
            Op::Endian { bits, swap, dst } => self.endian(bits, swap, REG[dst as usize]),
            Op::LdImm64 { dst, value } => self.load_imm(REG[dst as usize], value),
            Op::Load {
                bytes,
                signed,
                dst,
                base,
                off,
            } => {
                let (w, opcode): (bool, &[u8]) = match (bytes, signed) {
                    (1, false) => (false, &[0x0f, 0xb6]), // movzx r32, m8
                    (2, false) => (false, &[0x0f, 0xb7]), // movzx r32, m16
                    (4, false) => (false, &[0x8b]),       // mov r32, m32
                    (1, true) => (true, &[0x0f, 0xbe]),   // movsx r64, m8
                    (2, true) => (true, &[0x0f, 0xbf]),   // movsx r64, m16
                    (4, true) => (true, &[0x63]),         // movsxd r64, m32
                    _ => (true, &[0x8b]),                 // mov r64, m64
                };
                self.rm(w, opcode, REG[dst as usize], REG[base as usize], off.into());
            }
            Op::Store {
                bytes,
                base,
                off,
                src,
            } => self.store(bytes, REG[base as usize], off.into(), src),
            Op::Atomic {
                wide,
                op,
                base,
                off,
                src,
            } => self.atomic(wide, op, REG[base as usize], off.into(), REG[src as usize]),
            Op::Jump { target } => {
                if labels.near(pc, target) {
                    self.byte(0xeb); // jmp rel8
                    self.rel8(labels, target);
                } else {
                    self.byte(0xe9); // jmp rel32
                    self.rel32(labels, target);
                }
            }
            Op::Branch {
                wide,
                cond,
                dst,
                src,
                target,
            } => {
                let near = labels.near(pc, target);
                self.branch(wide, cond, REG[dst as usize], src, near);
                self.rel8_or_32(labels, near, target);
            }
            Op::CallHelper { helper, .. } => {
                // The body runs at rsp ≡ 0 (mod 16), as the call needs. r1–r5 are the
                // arguments and caller-saved: the helper may clobber them.
                self.rex(true, 0, RAX, false);
                self.byte(0xb8); // movabs rax, helper
                self.code
                    .extend_from_slice(&(helper as usize as u64).to_le_bytes());
                self.rr(false, &[0xff], 2, RAX); // call rax
            }
            Op::ArrayLookup {
                base,
                stride,
                entries,
            } => {
                // r0 = key < entries ? base + key * stride : NULL, key = *(u32 *)r2 (the
                // verifier proved r2 points at the 4-byte key).
                self.rm(false, &[0x8b], RAX, REG[2], 0); // mov eax, [r2]
                self.alu_ri(false, arith::CMP, RAX, entries as i32);
                let null = self.jump8(Some(cc::AE));
                self.rr(true, &[0x69], RAX, RAX); // imul rax, rax, stride
                self.imm32(stride as i32);
                self.load_imm(AUX, base);
                self.alu_rr(true, arith::ADD, RAX, AUX);
                let done = self.jump8(None);
                self.land(null);
                self.zero(RAX);
                self.land(done);
            }
            Op::CallLocal { target } => {
                // Save the r6–r9 the program uses, an odd number of slots (with padding), so
                // that after the return address the callee's body runs at rsp ≡ 0 too.
                for i in 0..self.preserved.len() {
                    self.push(self.preserved[i]);
                }
                let pad = self.preserved.len().is_multiple_of(2);
                if pad {
                    self.alu_ri(true, arith::SUB, RSP, 8);
                }
                if self.frames {
                    self.alu_ri(true, arith::SUB, RBP, STACK_SIZE as i32);
                }
                self.call_rel32(labels, target);
                if self.frames {
                    self.alu_ri(true, arith::ADD, RBP, STACK_SIZE as i32);
                }
                if pad {
                    self.alu_ri(true, arith::ADD, RSP, 8);
                }
                for i in (0..self.preserved.len()).rev() {
                    self.pop(self.preserved[i]);
                }
            }
            Op::Exit if pc < self.main_end => self.epilogue(),
            Op::Exit => self.byte(0xc3), // ret from a subprogram
            Op::Hole => {}
        }
    }

    fn patch(&mut self, fixup: Fixup, target: usize) {
        if fixup.short {
            let rel = target as i64 - (fixup.at as i64 + 1);
            let rel = i8::try_from(rel).expect("Labels::near promised a short distance");
            self.code[fixup.at] = rel as u8;
            return;
        }
        let rel = target as i64 - (fixup.at as i64 + 4);
        let rel = i32::try_from(rel).expect("code larger than 2 GiB");
        self.code[fixup.at..fixup.at + 4].copy_from_slice(&rel.to_le_bytes());
    }

    fn finish(self) -> Vec<u8> {
        self.code
    }
}

// The encoder.
impl X86_64 {
    /// Returns from the entry point: undoes the entry sequence (at most 16 bytes, so every
    /// `exit` of the main program gets its own copy).
    fn epilogue(&mut self) {
        if self.reserved != 0 {
            self.alu_ri(true, arith::ADD, RSP, self.reserved);
        }
        for i in (0..self.saved.len()).rev() {
            self.pop(self.saved[i]);
        }
        self.byte(0xc3); // ret
    }

    fn byte(&mut self, b: u8) {
        self.code.push(b);
    }

    fn imm32(&mut self, v: i32) {
        self.code.extend_from_slice(&v.to_le_bytes());
    }

    /// The REX prefix for operand size `w` (64-bit), ModRM.reg `reg` and ModRM.rm (or base)
    /// `rm`, when one is needed; `byte_regs` when an 8-bit register operand is among them (4–7
    /// mean spl/bpl/sil/dil only with a REX prefix, ah/ch/dh/bh without).
    fn rex(&mut self, w: bool, reg: u8, rm: u8, byte_regs: bool) {
        let rex = 0x40 | (u8::from(w) << 3) | ((reg & 8) >> 1) | ((rm & 8) >> 3);
        if rex != 0x40 || (byte_regs && ((4..8).contains(&reg) || (4..8).contains(&rm))) {
            self.byte(rex);
        }
    }

    /// `opcode` with register operands `reg` (ModRM.reg or a `/digit`) and `rm`.
    fn rr(&mut self, w: bool, opcode: &[u8], reg: u8, rm: u8) {
        self.rex(w, reg, rm, false);
        self.code.extend_from_slice(opcode);
        self.byte(0xc0 | ((reg & 7) << 3) | (rm & 7));
    }

    /// [`rr`](Self::rr) where `rm` is an 8-bit register.
    fn rr8(&mut self, w: bool, opcode: &[u8], reg: u8, rm: u8) {
        self.rex(w, reg, rm, true);
        self.code.extend_from_slice(opcode);
        self.byte(0xc0 | ((reg & 7) << 3) | (rm & 7));
    }

    /// `opcode` with `reg` (ModRM.reg or a `/digit`) and the memory operand `[base + disp]`.
    fn rm(&mut self, w: bool, opcode: &[u8], reg: u8, base: u8, disp: i32) {
        self.rex(w, reg, base, false);
        self.code.extend_from_slice(opcode);
        self.mem(reg, base, disp);
    }

    /// [`rm`](Self::rm) where `reg` is an 8-bit register.
    fn rm8(&mut self, opcode: &[u8], reg: u8, base: u8, disp: i32) {
        self.rex(false, reg, base, true);
        self.code.extend_from_slice(opcode);
        self.mem(reg, base, disp);
    }

    /// ModRM (+ SIB) + displacement of `[base + disp]`. Always `disp8` or `disp32` (mod 01/10),
    /// so rbp and r13 need no special case; rsp and r12 as base need a SIB byte.
    fn mem(&mut self, reg: u8, base: u8, disp: i32) {
        let short = i8::try_from(disp).is_ok();
        let md = if short { 0x40 } else { 0x80 };
        self.byte(md | ((reg & 7) << 3) | (base & 7));
        if base & 7 == RSP {
            self.byte(0x24); // SIB: base only, no index
        }
        if short {
            self.byte(disp as u8);
        } else {
            self.imm32(disp);
        }
    }

    fn push(&mut self, r: u8) {
        self.rex(false, 0, r, false);
        self.byte(0x50 | (r & 7));
    }

    fn pop(&mut self, r: u8) {
        self.rex(false, 0, r, false);
        self.byte(0x58 | (r & 7));
    }

    /// `mov dst, src` (32-bit: zero-extends).
    fn mov(&mut self, w: bool, dst: u8, src: u8) {
        self.rr(w, &[0x89], src, dst);
    }

    /// `xor r32, r32`.
    fn zero(&mut self, r: u8) {
        self.alu_rr(false, arith::XOR, r, r);
    }

    /// `op dst, src` for an [`arith`] operation.
    fn alu_rr(&mut self, w: bool, (opcode, _): (u8, u8), dst: u8, src: u8) {
        self.rr(w, &[opcode], src, dst);
    }

    /// `op dst, imm` for an [`arith`] operation (64-bit: `imm` sign-extended).
    fn alu_ri(&mut self, w: bool, (_, digit): (u8, u8), dst: u8, imm: i32) {
        if let Ok(imm) = i8::try_from(imm) {
            self.rr(w, &[0x83], digit, dst);
            self.byte(imm as u8);
        } else {
            self.rr(w, &[0x81], digit, dst);
            self.imm32(imm);
        }
    }

    /// `dst = value`, in the shortest form (may change the flags).
    fn load_imm(&mut self, dst: u8, value: u64) {
        if value == 0 {
            self.zero(dst);
        } else if let Ok(v) = u32::try_from(value) {
            self.rex(false, 0, dst, false);
            self.byte(0xb8 | (dst & 7)); // mov r32, imm32
            self.imm32(v as i32);
        } else if let Ok(v) = i32::try_from(value as i64) {
            self.rr(true, &[0xc7], 0, dst); // mov r64, simm32
            self.imm32(v);
        } else {
            self.rex(true, 0, dst, false);
            self.byte(0xb8 | (dst & 7)); // movabs r64, imm64
            self.code.extend_from_slice(&value.to_le_bytes());
        }
    }

    /// A `rel32` to slot `target`, patched later.
    fn rel32(&mut self, labels: &mut Labels, target: usize) {
        labels.refer(self.code.len(), target);
        self.imm32(0);
    }

    /// A `rel8` to slot `target` ([`Labels::near`] allowed it), patched later.
    fn rel8(&mut self, labels: &mut Labels, target: usize) {
        labels.refer_short(self.code.len(), target);
        self.byte(0);
    }

    fn rel8_or_32(&mut self, labels: &mut Labels, near: bool, target: usize) {
        if near {
            self.rel8(labels, target);
        } else {
            self.rel32(labels, target);
        }
    }

    fn call_rel32(&mut self, labels: &mut Labels, target: usize) {
        self.byte(0xe8);
        self.rel32(labels, target);
    }

    /// A forward `jcc rel8` (or `jmp rel8` when `cc` is `None`) to [`land`](Self::land) later.
    fn jump8(&mut self, cc: Option<u8>) -> usize {
        self.byte(cc.map_or(0xeb, |cc| 0x70 | cc));
        self.byte(0);
        self.code.len() - 1
    }

    /// Points the `rel8` at `at` here.
    fn land(&mut self, at: usize) {
        let rel = self.code.len() - (at + 1);
        self.code[at] = u8::try_from(rel)
            .ok()
            .filter(|r| *r < 0x80)
            .expect("short jump");
    }

    /// A backward `jcc rel8` to code offset `target`.
    fn jump8_back(&mut self, cc: u8, target: usize) {
        let rel = target as isize - (self.code.len() as isize + 2);
        let rel = i8::try_from(rel).expect("short loop");
        self.byte(0x70 | cc);
        self.byte(rel as u8);
    }
}

// The translation of ops.
impl X86_64 {
    fn alu(&mut self, wide: bool, op: u8, d: u8, src: Operand) {
        let arith = match op {
            alu::ADD => arith::ADD,
            alu::SUB => arith::SUB,
            alu::OR => arith::OR,
            alu::AND => arith::AND,
            alu::XOR => arith::XOR,
            alu::MOV => {
                match src {
                    // 64-bit `mov r, r` is a no-op; 32-bit zero-extends, so is needed.
                    Operand::Reg(s) if wide && REG[s as usize] == d => {}
                    Operand::Reg(s) => self.mov(wide, d, REG[s as usize]),
                    Operand::Imm(imm) if wide => self.load_imm(d, imm as i64 as u64),
                    Operand::Imm(imm) => self.load_imm(d, u64::from(imm as u32)),
                }
                return;
            }
            alu::MUL => {
                match src {
                    Operand::Reg(s) => self.rr(wide, &[0x0f, 0xaf], d, REG[s as usize]),
                    Operand::Imm(imm) => {
                        if let Ok(imm) = i8::try_from(imm) {
                            self.rr(wide, &[0x6b], d, d);
                            self.byte(imm as u8);
                        } else {
                            self.rr(wide, &[0x69], d, d);
                            self.imm32(imm);
                        }
                    }
                }
                return;
            }
            // LSH, RSH, ARSH
            _ => {
                let digit = match op {
                    alu::LSH => 4,
                    alu::RSH => 5,
                    _ => 7,
                };
                self.shift(wide, digit, d, src);
                return;
            }
        };
        match src {
            Operand::Reg(s) => self.alu_rr(wide, arith, d, REG[s as usize]),
            Operand::Imm(imm) => self.alu_ri(wide, arith, d, imm),
        }
    }

    /// `shl`/`shr`/`sar` (`digit` 4/5/7); the count is masked to the width as x86 does itself.
    fn shift(&mut self, wide: bool, digit: u8, d: u8, src: Operand) {
        match src {
            Operand::Imm(imm) => {
                let count = (imm as u8) & if wide { 63 } else { 31 };
                if count != 0 {
                    self.rr(wide, &[0xc1], digit, d);
                    self.byte(count);
                } else if !wide {
                    self.mov(false, d, d);
                }
            }
            Operand::Reg(s) => {
                let s = REG[s as usize];
                if s == RCX {
                    self.rr(wide, &[0xd3], digit, d); // op d, cl
                } else if d == RCX {
                    // The value lives in rcx, which must hold the count: shift a copy.
                    self.mov(true, AUX, RCX);
                    self.mov(true, RCX, s);
                    self.rr(wide, &[0xd3], digit, AUX);
                    self.mov(true, RCX, AUX);
                } else {
                    // Borrow rcx (eBPF r4) for the count.
                    self.mov(true, AUX, RCX);
                    self.mov(true, RCX, s);
                    self.rr(wide, &[0xd3], digit, d);
                    self.mov(true, RCX, AUX);
                }
            }
        }
    }

    /// Division and modulo with eBPF's rules (see [`Op::DivMod`]); rax and rdx keep their
    /// values unless `d` is one of them. The divisor goes to AUX, rax/rdx are saved in
    /// AUX2/AUX3.
    fn div_mod(&mut self, wide: bool, signed: bool, modulo: bool, d: u8, src: Operand) {
        let by_reg = match src {
            Operand::Imm(0) => return self.div_by_zero(wide, modulo, d),
            Operand::Imm(-1) if signed => return self.div_by_minus_one(wide, modulo, d),
            Operand::Imm(imm) if wide => {
                self.load_imm(AUX, imm as i64 as u64);
                false
            }
            Operand::Imm(imm) => {
                self.load_imm(AUX, u64::from(imm as u32));
                false
            }
            Operand::Reg(s) => {
                self.mov(true, AUX, REG[s as usize]);
                true
            }
        };
        let (mut to_zero, mut to_minus_one) = (None, None);
        if by_reg {
            self.rr(wide, &[0x85], AUX, AUX); // test aux, aux
            to_zero = Some(self.jump8(Some(cc::E)));
            if signed {
                // x86 faults on MIN / -1; x / -1 is -x and x % -1 is 0 for every x.
                self.alu_ri(wide, arith::CMP, AUX, -1);
                to_minus_one = Some(self.jump8(Some(cc::E)));
            }
        }
        if d != RAX {
            self.mov(true, AUX2, RAX);
        }
        if d != RDX {
            self.mov(true, AUX3, RDX);
        }
        if d != RAX {
            self.mov(true, RAX, d);
        }
        if signed {
            if wide {
                self.byte(0x48);
            }
            self.byte(0x99); // cdq / cqo
        } else {
            self.zero(RDX);
        }
        self.rr(wide, &[0xf7], if signed { 7 } else { 6 }, AUX); // idiv / div aux
        let result = if modulo { RDX } else { RAX };
        if d != result {
            self.mov(wide, d, result);
        }
        if d != RAX {
            self.mov(true, RAX, AUX2);
        }
        if d != RDX {
            self.mov(true, RDX, AUX3);
        }
        if let Some(to_zero) = to_zero {
            let mut done = Vec::new();
            done.push(self.jump8(None));
            self.land(to_zero);
            self.div_by_zero(wide, modulo, d);
            if let Some(to_minus_one) = to_minus_one {
                done.push(self.jump8(None));
                self.land(to_minus_one);
                self.div_by_minus_one(wide, modulo, d);
            }
            for at in done {
                self.land(at);
            }
        }
    }

    /// Division by zero gives 0; modulo by zero leaves `d` (zero-extended in 32 bits).
    fn div_by_zero(&mut self, wide: bool, modulo: bool, d: u8) {
        if !modulo {
            self.zero(d);
        } else if !wide {
            self.mov(false, d, d);
        }
    }

    /// Signed division by -1 negates; modulo by -1 gives 0.
    fn div_by_minus_one(&mut self, wide: bool, modulo: bool, d: u8) {
        if modulo {
            self.zero(d);
        } else {
            self.rr(wide, &[0xf7], 3, d); // neg
        }
    }

    fn endian(&mut self, bits: u8, swap: bool, d: u8) {
        match (bits, swap) {
            (16, false) => self.rr(false, &[0x0f, 0xb7], d, d), // movzx d32, d16
            (32, false) => self.mov(false, d, d),
            (64, false) => {}
            (16, true) => {
                self.byte(0x66);
                self.rr(false, &[0xc1], 1, d); // ror d16, 8
                self.byte(8);
                self.rr(false, &[0x0f, 0xb7], d, d); // movzx d32, d16
            }
            (bits, _) => {
                self.rex(bits == 64, 0, d, false);
                self.byte(0x0f);
                self.byte(0xc8 | (d & 7)); // bswap
            }
        }
    }

    fn store(&mut self, bytes: u8, base: u8, disp: i32, src: Operand) {
        match (bytes, src) {
            (1, Operand::Reg(s)) => self.rm8(&[0x88], REG[s as usize], base, disp),
            (2, Operand::Reg(s)) => {
                self.byte(0x66);
                self.rm(false, &[0x89], REG[s as usize], base, disp);
            }
            (_, Operand::Reg(s)) => self.rm(bytes == 8, &[0x89], REG[s as usize], base, disp),
            (1, Operand::Imm(imm)) => {
                self.rm(false, &[0xc6], 0, base, disp);
                self.byte(imm as u8);
            }
            (2, Operand::Imm(imm)) => {
                self.byte(0x66);
                self.rm(false, &[0xc7], 0, base, disp);
                self.code.extend_from_slice(&(imm as u16).to_le_bytes());
            }
            (_, Operand::Imm(imm)) => {
                self.rm(bytes == 8, &[0xc7], 0, base, disp);
                self.imm32(imm);
            }
        }
    }

    /// `op` on `[base + disp]` with `s`; the old value (zero-extended) goes to `s` for FETCH
    /// and XCHG, to rax for CMPXCHG.
    fn atomic(&mut self, wide: bool, op: i32, base: u8, disp: i32, s: u8) {
        const LOCK: u8 = 0xf0;
        let fetch_loop = match op {
            atomic::ADD | atomic::OR | atomic::AND | atomic::XOR => {
                let (opcode, _) = arith_of(op);
                self.byte(LOCK);
                self.rm(wide, &[opcode], s, base, disp);
                return;
            }
            _ if op == atomic::ADD | atomic::FETCH => {
                self.byte(LOCK);
                self.rm(wide, &[0x0f, 0xc1], s, base, disp); // xadd
                return;
            }
            atomic::XCHG => {
                self.rm(wide, &[0x87], s, base, disp); // xchg (always locked)
                return;
            }
            atomic::CMPXCHG => {
                self.byte(LOCK);
                self.rm(wide, &[0x0f, 0xb1], s, base, disp); // cmpxchg [m], s (rax: expected)
                if !wide {
                    // A successful 32-bit cmpxchg leaves rax alone; eBPF zero-extends it.
                    self.mov(false, RAX, RAX);
                }
                return;
            }
            // FETCH_AND, FETCH_OR, FETCH_XOR
            _ => arith_of(op & !atomic::FETCH),
        };
        // A cmpxchg loop with the old value in rax: r0 saved in AUX2, the address in AUX3, the
        // new value built in AUX.
        self.mov(true, AUX2, RAX);
        self.rm(true, &[0x8d], AUX3, base, disp); // lea aux3, [base + disp]
        self.rm(wide, &[0x8b], RAX, AUX3, 0); // mov rax, [aux3]
        let again = self.code.len();
        self.mov(true, AUX, RAX);
        let operand = if s == RAX { AUX2 } else { s };
        self.alu_rr(wide, fetch_loop, AUX, operand);
        self.byte(LOCK);
        self.rm(wide, &[0x0f, 0xb1], AUX, AUX3, 0); // cmpxchg [aux3], aux
        self.jump8_back(cc::NE, again);
        if s != RAX {
            self.mov(true, s, RAX);
            self.mov(true, RAX, AUX2);
        }
    }

    /// The comparison and the `jcc` opcode of a conditional jump (`rel8` when `near`), its
    /// displacement still to emit.
    fn branch(&mut self, wide: bool, cond: u8, d: u8, src: Operand, near: bool) {
        if cond == jmp::JSET {
            match src {
                Operand::Reg(s) => self.rr(wide, &[0x85], REG[s as usize], d), // test d, s
                Operand::Imm(imm) => {
                    self.rr(wide, &[0xf7], 0, d); // test d, imm
                    self.imm32(imm);
                }
            }
        } else {
            match src {
                Operand::Reg(s) => self.alu_rr(wide, arith::CMP, d, REG[s as usize]),
                // Same flags as `cmp d, 0` (CF = OF = 0), one byte shorter.
                Operand::Imm(0) => self.rr(wide, &[0x85], d, d), // test d, d
                Operand::Imm(imm) => self.alu_ri(wide, arith::CMP, d, imm),
            }
        }
        let cc = match cond {
            jmp::JEQ => cc::E,
            jmp::JNE | jmp::JSET => cc::NE,
            jmp::JGT => cc::A,
            jmp::JGE => cc::AE,
            jmp::JLT => cc::B,
            jmp::JLE => cc::BE,
            jmp::JSGT => cc::G,
            jmp::JSGE => cc::GE,
            jmp::JSLT => cc::L,
            _ => cc::LE, // JSLE
        };
        if near {
            self.byte(0x70 | cc); // jcc rel8
        } else {
            self.byte(0x0f);
            self.byte(0x80 | cc); // jcc rel32
        }
    }
}

/// The [`arith`] form of an atomic's operation.
fn arith_of(op: i32) -> (u8, u8) {
    match op {
        atomic::ADD => arith::ADD,
        atomic::OR => arith::OR,
        atomic::AND => arith::AND,
        _ => arith::XOR,
    }
}
