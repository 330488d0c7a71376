//! The abstract machine state: what each register and each stack byte may hold, per frame.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use super::scalar::Scalar;

/// Bytes of stack one frame may address (below R10).
pub const STACK_SIZE: usize = 512;
pub(crate) const SLOTS: usize = STACK_SIZE / 8;

/// What a pointer points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// The tracepoint's context (read-only).
    Ctx,
    /// The stack of frame `n` (0: the program's entry function).
    Stack(u8),
    /// The map itself (only passed to helpers).
    Map(u16),
    /// A value of map `n`.
    MapValue(u16),
}

/// A pointer: its region, the range of byte offsets into it, whether it may be NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ptr {
    /// Where it points.
    pub region: Region,
    /// Smallest offset from the region's base (R10 for the stack).
    pub off_min: i64,
    /// Largest offset.
    pub off_max: i64,
    /// May be NULL (a map lookup's result before its check).
    pub nullable: bool,
    /// Links copies of one nullable pointer, so one NULL check refines them all (0: none).
    pub id: u32,
    /// Every possible offset is congruent to `align_rem` modulo `align` (a power of two, at
    /// most [`MAX_ALIGN`]): what proves an atomic at a variable offset aligned.
    pub align: u8,
    /// See `align`.
    pub align_rem: u8,
}

/// The largest alignment pointers track: the widest access (8 bytes).
pub const MAX_ALIGN: u8 = 8;

/// `value` modulo the power of two `m`, as the congruence class `align_rem` holds.
pub fn residue(value: i64, m: u8) -> u8 {
    value.rem_euclid(i64::from(m)) as u8
}

/// The largest power of two `m ≤ limit` with `a ≡ b (mod m)`.
fn common_align(limit: u8, a: u8, b: u8) -> u8 {
    let mut m = limit;
    while m > 1 && a % m != b % m {
        m /= 2;
    }
    m
}

impl Ptr {
    /// A non-null pointer at a fixed offset.
    pub fn at(region: Region, off: i64) -> Self {
        Self {
            region,
            off_min: off,
            off_max: off,
            nullable: false,
            id: 0,
            align: MAX_ALIGN,
            align_rem: residue(off, MAX_ALIGN),
        }
    }

    /// Whether every possible `offset + off` is a multiple of `size` (a power of two ≤ 8).
    pub fn aligned(&self, off: i16, size: u8) -> bool {
        self.align.is_multiple_of(size)
            && residue(i64::from(self.align_rem) + i64::from(off), size) == 0
    }

    /// The offset, if fixed.
    pub fn fixed_off(&self) -> Option<i64> {
        (self.off_min == self.off_max).then_some(self.off_min)
    }
}

/// One register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reg {
    /// Not written on some path (or holding incompatible types on different paths).
    Uninit,
    /// A number.
    Scalar(Scalar),
    /// A pointer.
    Ptr(Ptr),
}

impl Reg {
    /// The join: what either may hold.
    pub fn union(&self, other: &Self) -> Self {
        match (self, other) {
            (Self::Scalar(a), Self::Scalar(b)) => Self::Scalar(a.union(b)),
            (Self::Ptr(a), Self::Ptr(b)) if a.region == b.region => {
                let align = common_align(a.align.min(b.align), a.align_rem, b.align_rem);
                Self::Ptr(Ptr {
                    region: a.region,
                    off_min: a.off_min.min(b.off_min),
                    off_max: a.off_max.max(b.off_max),
                    nullable: a.nullable || b.nullable,
                    id: if a.id == b.id { a.id } else { 0 },
                    align,
                    align_rem: a.align_rem % align,
                })
            }
            // NULL on one path, a map value on the other: a map value or NULL.
            (Self::Scalar(s), Self::Ptr(p)) | (Self::Ptr(p), Self::Scalar(s))
                if s.as_constant() == Some(0)
                    && matches!(p.region, Region::MapValue(_))
                    && p.fixed_off() == Some(0) =>
            {
                Self::Ptr(Ptr {
                    nullable: true,
                    id: 0,
                    ..*p
                })
            }
            _ => Self::Uninit,
        }
    }

    /// Whether every value `other` may hold, `self` may hold too, with the same links.
    pub fn covers(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Uninit, _) => true,
            (Self::Scalar(a), Self::Scalar(b)) => a.contains(b) && (a.id == 0 || a.id == b.id),
            (Self::Ptr(a), Self::Ptr(b)) => {
                a.region == b.region
                    && a.off_min <= b.off_min
                    && a.off_max >= b.off_max
                    && a.align <= b.align
                    && b.align_rem % a.align == a.align_rem
                    && (a.nullable || !b.nullable)
                    && (a.id == 0 || a.id == b.id)
            }
            _ => false,
        }
    }

    /// The id linking copies, if any.
    pub fn id(&self) -> u32 {
        match self {
            Self::Scalar(s) => s.id,
            Self::Ptr(p) => p.id,
            Self::Uninit => 0,
        }
    }
}

/// What one stack byte holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Byte {
    /// Never written (reading it is refused).
    Uninit,
    /// Some number's byte.
    Misc,
    /// Part of an 8-byte register spill (see [`Stack::spill`]).
    Spill,
}

/// One frame's stack. Shared between states until one of them writes it (branches copy states,
/// and most branches leave the stack alone).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Stack {
    /// Byte `i` is at `R10 - STACK_SIZE + i`.
    pub bytes: Rc<[Byte; STACK_SIZE]>,
    /// The register spilled in each aligned 8-byte slot whose bytes are [`Byte::Spill`].
    pub spills: Rc<[Reg; SLOTS]>,
    /// Bit `k`: slot `k` may hold something other than uninitialised bytes (so comparisons
    /// and joins skip the untouched rest of the frame).
    pub used: u64,
}

impl Stack {
    fn new() -> Self {
        Self {
            bytes: Rc::new([Byte::Uninit; STACK_SIZE]),
            spills: Rc::new([Reg::Uninit; SLOTS]),
            used: 0,
        }
    }

    /// Notes that slot `slot` was written.
    pub fn mark(&mut self, slot: usize) {
        self.used |= 1 << slot;
    }

    fn slots(used: u64) -> impl Iterator<Item = usize> {
        (0..SLOTS).filter(move |slot| used & (1 << slot) != 0)
    }

    /// Index of the byte at `off` (negative, from R10).
    pub fn index(off: i64) -> usize {
        (off + STACK_SIZE as i64) as usize
    }

    /// The register spilled in the slot holding byte `index`.
    pub fn spill(&self, index: usize) -> &Reg {
        &self.spills[index / 8]
    }

    fn union(&self, other: &Self) -> Self {
        let mut bytes = [Byte::Uninit; STACK_SIZE];
        let mut spills = [Reg::Uninit; SLOTS];
        // A slot untouched on either side is uninitialised in the join.
        let used = self.used & other.used;
        for slot in Self::slots(used) {
            let range = slot * 8..slot * 8 + 8;
            let a = &self.bytes[range.clone()];
            let b = &other.bytes[range.clone()];
            let both_spilled = a.iter().chain(b).all(|&x| x == Byte::Spill);
            if both_spilled {
                let joined = self.spills[slot].union(&other.spills[slot]);
                if joined != Reg::Uninit {
                    bytes[range].fill(Byte::Spill);
                    spills[slot] = joined;
                }
                continue;
            }
            for i in range {
                let scalar_or_misc = |stack: &Self| match stack.bytes[i] {
                    Byte::Misc => true,
                    Byte::Spill => matches!(stack.spills[slot], Reg::Scalar(_)),
                    Byte::Uninit => false,
                };
                if scalar_or_misc(self) && scalar_or_misc(other) {
                    bytes[i] = Byte::Misc;
                }
            }
        }
        Self {
            bytes: Rc::new(bytes),
            spills: Rc::new(spills),
            used,
        }
    }

    fn covers(&self, other: &Self) -> bool {
        if Rc::ptr_eq(&self.bytes, &other.bytes) && Rc::ptr_eq(&self.spills, &other.spills) {
            return true; // one stack, shared since a branch
        }
        // Slots `self` never touched are uninitialised there, which covers anything.
        Self::slots(self.used).all(|slot| {
            (slot * 8..slot * 8 + 8).all(|i| match (self.bytes[i], other.bytes[i]) {
                (Byte::Uninit, _) => true,
                (Byte::Misc, Byte::Misc) => true,
                (Byte::Misc, Byte::Spill) => matches!(other.spills[slot], Reg::Scalar(_)),
                (Byte::Spill, Byte::Spill) => self.spills[slot].covers(&other.spills[slot]),
                _ => false,
            })
        })
    }
}

/// One function activation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// R0–R10.
    pub regs: [Reg; 11],
    /// Its stack.
    pub stack: Stack,
    /// The call instruction that created it (0 for the entry frame).
    pub call_site: usize,
}

impl Frame {
    /// A fresh frame at depth `depth`: every register uninitialised but R10.
    pub fn new(depth: u8, call_site: usize) -> Self {
        let mut regs = [Reg::Uninit; 11];
        regs[10] = Reg::Ptr(Ptr::at(Region::Stack(depth), 0));
        Self {
            regs,
            stack: Stack::new(),
            call_site,
        }
    }
}

/// The whole machine: the frames of the calls in progress (innermost last).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct State {
    /// Frames, entry function first.
    pub frames: Vec<Frame>,
    /// Next unused copy id.
    pub next_id: u32,
}

impl State {
    /// The state at the program's entry: R1 the context, R10 the stack.
    pub fn entry() -> Self {
        let mut frame = Frame::new(0, 0);
        frame.regs[1] = Reg::Ptr(Ptr::at(Region::Ctx, 0));
        Self {
            frames: alloc::vec![frame],
            next_id: 1,
        }
    }

    /// The innermost frame.
    pub fn frame(&mut self) -> &mut Frame {
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    /// The innermost frame, read-only.
    pub fn top(&self) -> &Frame {
        &self.frames[self.frames.len() - 1]
    }

    /// A fresh id.
    pub fn fresh_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Replaces every register and spill linked by `id` with `f` of it.
    pub fn update_linked(&mut self, id: u32, mut f: impl FnMut(&Reg) -> Reg) {
        if id == 0 {
            return;
        }
        for frame in &mut self.frames {
            for reg in frame.regs.iter_mut() {
                if reg.id() == id {
                    *reg = f(reg);
                }
            }
            // Copy the shared spills only if one of them changes.
            if frame.stack.spills.iter().any(|reg| reg.id() == id) {
                for reg in Rc::make_mut(&mut frame.stack.spills).iter_mut() {
                    if reg.id() == id {
                        *reg = f(reg);
                    }
                }
            }
        }
    }

    /// The join of two states of the same call depth.
    pub fn union(&self, other: &Self) -> Self {
        let frames = self
            .frames
            .iter()
            .zip(&other.frames)
            .map(|(a, b)| {
                let mut regs = [Reg::Uninit; 11];
                for (i, reg) in regs.iter_mut().enumerate() {
                    *reg = a.regs[i].union(&b.regs[i]);
                }
                Frame {
                    regs,
                    stack: a.stack.union(&b.stack),
                    call_site: a.call_site,
                }
            })
            .collect();
        Self {
            frames,
            next_id: self.next_id.max(other.next_id),
        }
    }

    /// Whether `self` allows everything `other` does (so exploring `other` too adds nothing).
    pub fn covers(&self, other: &Self) -> bool {
        self.frames.len() == other.frames.len()
            && self.frames.iter().zip(&other.frames).all(|(a, b)| {
                a.call_site == b.call_site
                    && a.regs.iter().zip(&b.regs).all(|(x, y)| x.covers(y))
                    && a.stack.covers(&b.stack)
            })
    }

    /// The registers in a Linux-like notation (`R0=scalar(0..=255) R1=ctx(+0) R10=fp0`).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let depth = self.frames.len() - 1;
        if depth > 0 {
            let _ = write!(out, "frame{depth}: ");
        }
        for (i, reg) in self.top().regs.iter().enumerate() {
            if *reg == Reg::Uninit {
                continue;
            }
            let _ = write!(out, "R{i}={} ", describe_reg(reg));
        }
        let stack = &self.top().stack;
        for slot in (0..SLOTS).rev() {
            let bytes = &stack.bytes[slot * 8..slot * 8 + 8];
            if bytes.iter().all(|&b| b == Byte::Uninit) {
                continue;
            }
            let off = slot as i64 * 8 - STACK_SIZE as i64;
            if bytes.iter().all(|&b| b == Byte::Spill) {
                let _ = write!(out, "fp{off}={} ", describe_reg(&stack.spills[slot]));
            } else {
                let map: String = bytes
                    .iter()
                    .map(|b| match b {
                        Byte::Uninit => '?',
                        Byte::Misc => 'm',
                        Byte::Spill => 's',
                    })
                    .collect();
                let _ = write!(out, "fp{off}={map} ");
            }
        }
        out.truncate(out.trim_end().len());
        out
    }
}

/// One register in the log's notation.
pub fn describe_reg(reg: &Reg) -> String {
    match reg {
        Reg::Uninit => String::from("uninit"),
        Reg::Scalar(s) => {
            let mut out = match s.as_constant() {
                Some(v) => alloc::format!("{}", v as i64),
                None if s.umin == 0 && s.umax == u64::MAX && s.smin == i64::MIN => {
                    String::from("scalar()")
                }
                None => {
                    alloc::format!("scalar({}..={}", s.umin, s.umax)
                        + &if s.smin as u64 != s.umin || s.smax as u64 != s.umax {
                            alloc::format!(", s{}..={})", s.smin, s.smax)
                        } else {
                            String::from(")")
                        }
                }
            };
            if s.id != 0 {
                let _ = write!(out, "#{}", s.id);
            }
            out
        }
        Reg::Ptr(p) => {
            let base = match p.region {
                Region::Ctx => String::from("ctx"),
                Region::Stack(0) => String::from("fp"),
                Region::Stack(n) => alloc::format!("fp[frame{n}]"),
                Region::Map(m) => alloc::format!("map_ptr(map#{m})"),
                Region::MapValue(m) if p.nullable => alloc::format!("map_value_or_null(map#{m}"),
                Region::MapValue(m) => alloc::format!("map_value(map#{m}"),
            };
            let off = match p.fixed_off() {
                Some(off) => alloc::format!("{off:+}"),
                None => alloc::format!("{:+}..={:+}", p.off_min, p.off_max),
            };
            let id = if p.id != 0 {
                alloc::format!(",id={}", p.id)
            } else {
                String::new()
            };
            match p.region {
                Region::MapValue(_) => alloc::format!("{base},off={off}{id})"),
                Region::Map(_) => base,
                Region::Stack(0) if p.fixed_off() == Some(0) => String::from("fp0"),
                _ => alloc::format!("{base}({off})"),
            }
        }
    }
}
