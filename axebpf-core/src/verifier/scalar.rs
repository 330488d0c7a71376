//! The scalar domain: what the verifier knows about a number — unsigned and signed ranges plus
//! known bits (a "tristate number": `value` holds the known bits, `mask` the unknown ones).
//!
//! Every operation over-approximates: the concrete result of the instruction on any pair of
//! concrete inputs the operands describe is described by the result.

/// Known bits of a 64-bit value: bit `i` is unknown when `mask` has it, else equals `value`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tnum {
    /// The known bits (zero where unknown).
    pub value: u64,
    /// The unknown bits.
    pub mask: u64,
}

impl Tnum {
    /// Nothing known.
    pub const UNKNOWN: Self = Self {
        value: 0,
        mask: u64::MAX,
    };

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Self {
        Self { value: v, mask: 0 }
    }

    /// The smallest tnum holding every value of `min..=max`.
    pub fn range(min: u64, max: u64) -> Self {
        let differing = min ^ max;
        let bits = 64 - differing.leading_zeros();
        if bits >= 64 {
            return Self::UNKNOWN;
        }
        let low = (1u64 << bits) - 1;
        Self {
            value: min & !low,
            mask: low,
        }
    }

    fn add(self, other: Self) -> Self {
        let sum_mask = self.mask.wrapping_add(other.mask);
        let sum_value = self.value.wrapping_add(other.value);
        let carries = sum_mask.wrapping_add(sum_value) ^ sum_value;
        let mask = carries | self.mask | other.mask;
        Self {
            value: sum_value & !mask,
            mask,
        }
    }

    fn sub(self, other: Self) -> Self {
        let diff = self.value.wrapping_sub(other.value);
        let high = diff.wrapping_add(self.mask);
        let low = diff.wrapping_sub(other.mask);
        let mask = (high ^ low) | self.mask | other.mask;
        Self {
            value: diff & !mask,
            mask,
        }
    }

    fn and(self, other: Self) -> Self {
        let a = self.value | self.mask;
        let b = other.value | other.mask;
        let value = self.value & other.value;
        Self {
            value,
            mask: a & b & !value,
        }
    }

    fn or(self, other: Self) -> Self {
        let value = self.value | other.value;
        Self {
            value,
            mask: (self.mask | other.mask) & !value,
        }
    }

    fn xor(self, other: Self) -> Self {
        let mask = self.mask | other.mask;
        Self {
            value: (self.value ^ other.value) & !mask,
            mask,
        }
    }

    /// Bits known in both (the meet); `None` when they contradict.
    fn intersect(self, other: Self) -> Option<Self> {
        let both_known = !self.mask & !other.mask;
        if (self.value ^ other.value) & both_known != 0 {
            return None;
        }
        let mask = self.mask & other.mask;
        Some(Self {
            value: (self.value | other.value) & !mask,
            mask,
        })
    }

    /// Bits known, and equal, in both (the join).
    fn union(self, other: Self) -> Self {
        let mask = self.mask | other.mask | (self.value ^ other.value);
        Self {
            value: self.value & !mask,
            mask,
        }
    }

    /// Whether every value `other` allows, `self` allows too.
    fn contains(self, other: Self) -> bool {
        other.mask & !self.mask == 0 && (other.value & !self.mask) == self.value
    }

    fn low32(self) -> Self {
        Self {
            value: self.value & 0xffff_ffff,
            mask: self.mask & 0xffff_ffff,
        }
    }
}

/// What is known about a scalar register: `umin..=umax` unsigned, `smin..=smax` signed, and
/// its known bits. `id` links registers known to hold the same value (copies), so a comparison
/// refines every copy; 0 means unlinked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scalar {
    /// Smallest unsigned value.
    pub umin: u64,
    /// Largest unsigned value.
    pub umax: u64,
    /// Smallest signed value.
    pub smin: i64,
    /// Largest signed value.
    pub smax: i64,
    /// Known bits.
    pub bits: Tnum,
    /// Copy identity (0: none).
    pub id: u32,
}

/// The width of an access or of a 32-bit operation.
const U32_MAX: u64 = u32::MAX as u64;

impl Scalar {
    /// Any 64-bit value.
    pub const UNKNOWN: Self = Self {
        umin: 0,
        umax: u64::MAX,
        smin: i64::MIN,
        smax: i64::MAX,
        bits: Tnum::UNKNOWN,
        id: 0,
    };

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Self {
        Self {
            umin: v,
            umax: v,
            smin: v as i64,
            smax: v as i64,
            bits: Tnum::constant(v),
            id: 0,
        }
    }

    /// Any value of `0..=max` (a zero-extended load of `max`'s width, say).
    pub fn at_most(max: u64) -> Self {
        Self::from_unsigned(0, max)
    }

    /// Any value of `min..=max` (unsigned).
    pub fn from_unsigned(min: u64, max: u64) -> Self {
        Self {
            umin: min,
            umax: max,
            ..Self::UNKNOWN
        }
        .normalized()
        .unwrap_or(Self::UNKNOWN)
    }

    /// Any value of `min..=max` (signed).
    pub fn from_signed(min: i64, max: i64) -> Self {
        Self {
            smin: min,
            smax: max,
            ..Self::UNKNOWN
        }
        .normalized()
        .unwrap_or(Self::UNKNOWN)
    }

    /// The value, if exactly one is possible.
    pub fn as_constant(&self) -> Option<u64> {
        (self.bits.mask == 0).then_some(self.bits.value)
    }

    /// Whether 0 is possible.
    pub fn may_be_zero(&self) -> bool {
        self.umin == 0
    }

    /// The same value without its copy identity.
    pub fn unlinked(mut self) -> Self {
        self.id = 0;
        self
    }

    /// Propagates what each view (unsigned, signed, bits) implies to the others; `None` when
    /// the constraints are contradictory (no value satisfies them: an impossible branch).
    pub fn normalized(mut self) -> Option<Self> {
        for _ in 0..2 {
            // Known bits bound the ranges.
            self.umin = self.umin.max(self.bits.value);
            self.umax = self.umax.min(self.bits.value | self.bits.mask);
            if self.bits.mask & (1 << 63) == 0 {
                self.smin = self.smin.max(self.bits.value as i64);
                self.smax = self.smax.min((self.bits.value | self.bits.mask) as i64);
            }
            // A signed range on one side of zero is also an unsigned range, and vice versa.
            if self.smin >= 0 || self.smax < 0 {
                self.umin = self.umin.max(self.smin as u64);
                self.umax = self.umax.min(self.smax as u64);
            }
            if (self.umin as i64) <= (self.umax as i64) {
                self.smin = self.smin.max(self.umin as i64);
                self.smax = self.smax.min(self.umax as i64);
            }
            if self.umin > self.umax || self.smin > self.smax {
                return None;
            }
            self.bits = self.bits.intersect(Tnum::range(self.umin, self.umax))?;
        }
        if self.umin > self.umax || self.smin > self.smax {
            return None;
        }
        Some(self)
    }

    /// The join: every value either allows.
    pub fn union(&self, other: &Self) -> Self {
        Self {
            umin: self.umin.min(other.umin),
            umax: self.umax.max(other.umax),
            smin: self.smin.min(other.smin),
            smax: self.smax.max(other.smax),
            bits: self.bits.union(other.bits),
            id: if self.id == other.id { self.id } else { 0 },
        }
    }

    /// Whether every value `other` allows, `self` allows too (ignoring ids).
    pub fn contains(&self, other: &Self) -> bool {
        self.umin <= other.umin
            && self.umax >= other.umax
            && self.smin <= other.smin
            && self.smax >= other.smax
            && self.bits.contains(other.bits)
    }

    /// The value truncated to its low 32 bits, zero-extended.
    pub fn low32(&self) -> Self {
        if self.umax <= U32_MAX {
            return self.unlinked();
        }
        Self {
            bits: self.bits.low32(),
            ..Self::at_most(U32_MAX)
        }
        .normalized()
        .unwrap_or(Self::at_most(U32_MAX))
    }

    fn from_bits(bits: Tnum) -> Self {
        Self {
            bits,
            ..Self::UNKNOWN
        }
        .normalized()
        .unwrap_or(Self::UNKNOWN)
    }

    fn with_bits(mut self, bits: Tnum) -> Self {
        self.bits = bits;
        self.id = 0;
        self.normalized().unwrap_or(Self::from_bits(bits))
    }

    /// `self + other` (wrapping).
    pub fn add(&self, other: &Self) -> Self {
        let bits = self.bits.add(other.bits);
        let mut out = Self::UNKNOWN;
        if let (Some(lo), Some(hi)) = (
            self.umin.checked_add(other.umin),
            self.umax.checked_add(other.umax),
        ) {
            out.umin = lo;
            out.umax = hi;
        }
        if let (Some(lo), Some(hi)) = (
            self.smin.checked_add(other.smin),
            self.smax.checked_add(other.smax),
        ) {
            out.smin = lo;
            out.smax = hi;
        }
        out.with_bits(bits)
    }

    /// `self - other` (wrapping).
    pub fn sub(&self, other: &Self) -> Self {
        let bits = self.bits.sub(other.bits);
        let mut out = Self::UNKNOWN;
        if self.umin >= other.umax {
            out.umin = self.umin - other.umax;
            out.umax = self.umax - other.umin;
        }
        if let (Some(lo), Some(hi)) = (
            self.smin.checked_sub(other.smax),
            self.smax.checked_sub(other.smin),
        ) {
            out.smin = lo;
            out.smax = hi;
        }
        out.with_bits(bits)
    }

    /// `self * other` (wrapping).
    pub fn mul(&self, other: &Self) -> Self {
        if let (Some(a), Some(b)) = (self.as_constant(), other.as_constant()) {
            return Self::constant(a.wrapping_mul(b));
        }
        match (
            self.umin.checked_mul(other.umin),
            self.umax.checked_mul(other.umax),
        ) {
            (Some(lo), Some(hi)) => Self::from_unsigned(lo, hi),
            _ => Self::UNKNOWN,
        }
    }

    /// `self / other` unsigned; division by zero gives 0 (RFC 9669).
    pub fn div(&self, other: &Self) -> Self {
        if let (Some(a), Some(b)) = (self.as_constant(), other.as_constant()) {
            return Self::constant(a.checked_div(b).unwrap_or(0));
        }
        if other.umin == 0 {
            return Self::at_most(self.umax);
        }
        Self::from_unsigned(self.umin / other.umax, self.umax / other.umin)
    }

    /// `self % other` unsigned; modulo zero leaves `self` (RFC 9669).
    pub fn rem(&self, other: &Self) -> Self {
        if let (Some(a), Some(b)) = (self.as_constant(), other.as_constant()) {
            return Self::constant(if b == 0 { a } else { a % b });
        }
        if other.umin == 0 {
            return Self::at_most(self.umax);
        }
        if self.umax < other.umin {
            return self.unlinked();
        }
        Self::at_most(self.umax.min(other.umax - 1))
    }

    /// `self & other`.
    pub fn and(&self, other: &Self) -> Self {
        // `a & b` is at most either operand, read unsigned.
        Self::at_most(self.umax.min(other.umax)).with_bits(self.bits.and(other.bits))
    }

    /// `self | other`.
    pub fn or(&self, other: &Self) -> Self {
        let mut out = Self::UNKNOWN;
        out.umin = self.umin.max(other.umin);
        out.with_bits(self.bits.or(other.bits))
    }

    /// `self ^ other`.
    pub fn xor(&self, other: &Self) -> Self {
        Self::from_bits(self.bits.xor(other.bits))
    }

    /// `self << amount` for a known amount below 64.
    pub fn shl(&self, amount: u32) -> Self {
        let bits = Tnum {
            value: self.bits.value << amount,
            mask: self.bits.mask << amount,
        };
        if amount == 0 {
            return self.unlinked();
        }
        let mut out = Self::UNKNOWN;
        if self.umax.leading_zeros() >= amount {
            out.umin = self.umin << amount;
            out.umax = self.umax << amount;
        }
        // Signed: exact when neither end loses bits (sign included).
        let (lo, hi) = (self.smin << amount, self.smax << amount);
        if lo >> amount == self.smin && hi >> amount == self.smax {
            out.smin = lo;
            out.smax = hi;
        }
        out.with_bits(bits)
    }

    /// `self >> amount` (logical) for a known amount below 64.
    pub fn shr(&self, amount: u32) -> Self {
        if amount == 0 {
            return self.unlinked();
        }
        let bits = Tnum {
            value: self.bits.value >> amount,
            mask: self.bits.mask >> amount,
        };
        Self::from_unsigned(self.umin >> amount, self.umax >> amount).with_bits(bits)
    }

    /// `self >> amount` (arithmetic) for a known amount below 64.
    pub fn sar(&self, amount: u32) -> Self {
        if amount == 0 {
            return self.unlinked();
        }
        let bits = Tnum {
            value: ((self.bits.value as i64) >> amount) as u64,
            mask: ((self.bits.mask as i64) >> amount) as u64,
        };
        Self::from_signed(self.smin >> amount, self.smax >> amount).with_bits(bits)
    }

    /// Intersects `self` with `other`'s values (both hold the same value); `None` if disjoint.
    pub fn meet(&self, other: &Self) -> Option<Self> {
        Self {
            umin: self.umin.max(other.umin),
            umax: self.umax.min(other.umax),
            smin: self.smin.max(other.smin),
            smax: self.smax.min(other.smax),
            bits: self.bits.intersect(other.bits)?,
            id: self.id,
        }
        .normalized()
    }
}

/// A comparison of a conditional jump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// unsigned `>`
    Gt,
    /// unsigned `>=`
    Ge,
    /// unsigned `<`
    Lt,
    /// unsigned `<=`
    Le,
    /// signed `>`
    Sgt,
    /// signed `>=`
    Sge,
    /// signed `<`
    Slt,
    /// signed `<=`
    Sle,
    /// `& != 0`
    Set,
    /// `& == 0` (the false edge of `jset`)
    NotSet,
}

impl Cmp {
    /// The jump operation's comparison.
    pub fn from_operation(operation: u8) -> Option<Self> {
        Some(match operation {
            0x10 => Self::Eq,
            0x20 => Self::Gt,
            0x30 => Self::Ge,
            0x40 => Self::Set,
            0x50 => Self::Ne,
            0x60 => Self::Sgt,
            0x70 => Self::Sge,
            0xa0 => Self::Lt,
            0xb0 => Self::Le,
            0xc0 => Self::Slt,
            0xd0 => Self::Sle,
            _ => return None,
        })
    }

    /// The comparison that holds when this one does not.
    pub fn negate(self) -> Self {
        match self {
            Self::Eq => Self::Ne,
            Self::Ne => Self::Eq,
            Self::Gt => Self::Le,
            Self::Le => Self::Gt,
            Self::Ge => Self::Lt,
            Self::Lt => Self::Ge,
            Self::Sgt => Self::Sle,
            Self::Sle => Self::Sgt,
            Self::Sge => Self::Slt,
            Self::Slt => Self::Sge,
            Self::Set => Self::NotSet,
            Self::NotSet => Self::Set,
        }
    }

    /// Whether it compares signed values.
    pub fn is_signed(self) -> bool {
        matches!(self, Self::Sgt | Self::Sge | Self::Slt | Self::Sle)
    }
}

/// Refines `a` and `b` under the assumption `a cmp b`; `None` when impossible.
pub fn refine(a: &Scalar, b: &Scalar, cmp: Cmp) -> Option<(Scalar, Scalar)> {
    let (mut a, mut b) = (*a, *b);
    match cmp {
        Cmp::Eq => {
            let both = a.meet(&b)?;
            return Some((Scalar { id: a.id, ..both }, Scalar { id: b.id, ..both }));
        }
        Cmp::Ne => {
            if let Some(v) = b.as_constant() {
                shave(&mut a, v)?;
            }
            if let Some(v) = a.as_constant() {
                shave(&mut b, v)?;
            }
        }
        Cmp::Gt => {
            a.umin = a.umin.max(b.umin.checked_add(1)?);
            b.umax = b.umax.min(a.umax.checked_sub(1)?);
        }
        Cmp::Ge => {
            a.umin = a.umin.max(b.umin);
            b.umax = b.umax.min(a.umax);
        }
        Cmp::Lt => return refine(&b, &a, Cmp::Gt).map(|(b, a)| (a, b)),
        Cmp::Le => return refine(&b, &a, Cmp::Ge).map(|(b, a)| (a, b)),
        Cmp::Sgt => {
            a.smin = a.smin.max(b.smin.checked_add(1)?);
            b.smax = b.smax.min(a.smax.checked_sub(1)?);
        }
        Cmp::Sge => {
            a.smin = a.smin.max(b.smin);
            b.smax = b.smax.min(a.smax);
        }
        Cmp::Slt => return refine(&b, &a, Cmp::Sgt).map(|(b, a)| (a, b)),
        Cmp::Sle => return refine(&b, &a, Cmp::Sge).map(|(b, a)| (a, b)),
        Cmp::Set => {
            if let Some(v) = b.as_constant()
                && (a.bits.value | a.bits.mask) & v == 0
            {
                return None;
            }
            if let Some(v) = a.as_constant()
                && (b.bits.value | b.bits.mask) & v == 0
            {
                return None;
            }
        }
        Cmp::NotSet => {
            if let Some(v) = b.as_constant() {
                if a.bits.value & v != 0 {
                    return None;
                }
                a.bits.mask &= !v;
            }
            if let Some(v) = a.as_constant() {
                if b.bits.value & v != 0 {
                    return None;
                }
                b.bits.mask &= !v;
            }
        }
    }
    Some((a.normalized()?, b.normalized()?))
}

/// Removes the value `v` from `s` when it sits at an end of a range.
fn shave(s: &mut Scalar, v: u64) -> Option<()> {
    if s.as_constant() == Some(v) {
        return None;
    }
    if s.umin == v {
        s.umin += 1;
    }
    if s.umax == v {
        s.umax -= 1;
    }
    if s.smin == v as i64 {
        s.smin += 1;
    }
    if s.smax == v as i64 {
        s.smax -= 1;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tnum_add_and_range() {
        let a = Scalar::at_most(63);
        let b = Scalar::constant(8);
        let sum = a.add(&b);
        assert_eq!((sum.umin, sum.umax), (8, 71));
        assert_eq!(Tnum::range(0, 31), Tnum { value: 0, mask: 31 });
    }

    #[test]
    fn shifts_and_masks_bound() {
        let x = Scalar::UNKNOWN.and(&Scalar::constant(0xff));
        assert_eq!((x.umin, x.umax), (0, 255));
        let y = x.shl(3);
        assert_eq!(y.umax, 255 << 3);
        let z = Scalar::UNKNOWN.shr(60);
        assert_eq!(z.umax, 15);
    }

    #[test]
    fn comparisons_refine_and_detect_impossible_edges() {
        let x = Scalar::at_most(100);
        let (x_lt, _) = refine(&x, &Scalar::constant(10), Cmp::Lt).unwrap();
        assert_eq!(x_lt.umax, 9);
        assert!(refine(&Scalar::constant(5), &Scalar::constant(5), Cmp::Ne).is_none());
        assert!(refine(&Scalar::constant(5), &Scalar::constant(6), Cmp::Eq).is_none());
        let (ne0, _) = refine(&x, &Scalar::constant(0), Cmp::Ne).unwrap();
        assert_eq!(ne0.umin, 1);
    }

    #[test]
    fn division_and_modulo_stay_sound_with_zero() {
        let x = Scalar::at_most(100);
        assert_eq!(x.rem(&Scalar::at_most(7)).umax, 100);
        assert_eq!(x.rem(&Scalar::constant(7)).umax, 6);
        assert_eq!(x.div(&Scalar::constant(0)).as_constant(), None);
        assert_eq!(
            Scalar::constant(9).div(&Scalar::constant(0)).as_constant(),
            Some(0)
        );
    }

    /// A small deterministic generator (xorshift64*), so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// A value biased towards the interesting ones (small, near 2^32, near the sign bit).
        fn value(&mut self) -> u64 {
            let r = self.next();
            match r % 6 {
                0 => r >> 58,
                1 => (r >> 32) ^ 0xffff_ffff,
                2 => (1u64 << 63).wrapping_add(r >> 60),
                3 => (r as i8) as i64 as u64,
                4 => r >> 32,
                _ => r,
            }
        }

        /// An abstract value that contains `x`, built one of several ways.
        fn around(&mut self, x: u64) -> Scalar {
            let r = self.next();
            let spread = self.next() >> (r % 64);
            match r % 5 {
                0 => Scalar::constant(x),
                1 => Scalar::from_unsigned(
                    x.saturating_sub(spread),
                    x.saturating_add(self.next() >> (r % 64)),
                ),
                2 => {
                    let v = x as i64;
                    Scalar::from_signed(v.saturating_sub(spread as i64 & i64::MAX), v)
                }
                3 => {
                    let mask = self.next() & self.next();
                    Scalar {
                        bits: Tnum {
                            value: x & !mask,
                            mask,
                        },
                        ..Scalar::UNKNOWN
                    }
                    .normalized()
                    .unwrap()
                }
                _ => Scalar::UNKNOWN,
            }
        }
    }

    fn has(s: &Scalar, v: u64) -> bool {
        s.umin <= v
            && v <= s.umax
            && s.smin <= v as i64
            && v as i64 <= s.smax
            && v & !s.bits.mask == s.bits.value
    }

    /// Every operation's result contains the concrete result for concrete inputs drawn from
    /// its operands — the property the verifier's safety rests on.
    #[test]
    fn operations_over_approximate_concrete_results() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for trial in 0..200_000 {
            let (mut x, y) = (rng.value(), rng.value());
            let (mut a, b) = (rng.around(x), rng.around(y));
            // Sometimes an operand is itself the result of operations (as in programs).
            for _ in 0..rng.next() % 3 {
                let z = rng.value();
                let c = rng.around(z);
                (a, x) = match rng.next() % 4 {
                    0 => (a.add(&c), x.wrapping_add(z)),
                    1 => (a.and(&c), x & z),
                    2 => (a.shl((z % 8) as u32), x << (z % 8)),
                    _ => (a.or(&c), x | z),
                };
            }
            assert!(has(&a, x) && has(&b, y), "construction: {a:?} {x:#x}");
            let k = (y % 64) as u32;
            let checks: [(&str, Scalar, u64); 12] = [
                ("add", a.add(&b), x.wrapping_add(y)),
                ("sub", a.sub(&b), x.wrapping_sub(y)),
                ("mul", a.mul(&b), x.wrapping_mul(y)),
                ("div", a.div(&b), x.checked_div(y).unwrap_or(0)),
                ("rem", a.rem(&b), if y == 0 { x } else { x % y }),
                ("and", a.and(&b), x & y),
                ("or", a.or(&b), x | y),
                ("xor", a.xor(&b), x ^ y),
                ("shl", a.shl(k), x << k),
                ("shr", a.shr(k), x >> k),
                ("sar", a.sar(k), ((x as i64) >> k) as u64),
                ("low32", a.low32(), x & 0xffff_ffff),
            ];
            for (name, result, concrete) in checks {
                assert!(
                    has(&result, concrete),
                    "trial {trial}: {name}({x:#x}, {y:#x}) = {concrete:#x} not in {result:?} \
                     (a = {a:?}, b = {b:?})"
                );
            }
            let cmps = [
                (Cmp::Eq, x == y),
                (Cmp::Ne, x != y),
                (Cmp::Gt, x > y),
                (Cmp::Ge, x >= y),
                (Cmp::Lt, x < y),
                (Cmp::Le, x <= y),
                (Cmp::Sgt, (x as i64) > (y as i64)),
                (Cmp::Sge, (x as i64) >= (y as i64)),
                (Cmp::Slt, (x as i64) < (y as i64)),
                (Cmp::Sle, (x as i64) <= (y as i64)),
                (Cmp::Set, x & y != 0),
                (Cmp::NotSet, x & y == 0),
            ];
            for (cmp, holds) in cmps {
                if !holds {
                    continue;
                }
                let refined = refine(&a, &b, cmp);
                assert!(
                    refined.is_some_and(|(na, nb)| has(&na, x) && has(&nb, y)),
                    "trial {trial}: {cmp:?} holds for {x:#x}, {y:#x} but refine gave {refined:?} \
                     (a = {a:?}, b = {b:?})"
                );
            }
            let joined = a.union(&b);
            assert!(has(&joined, x) && has(&joined, y), "union {a:?} {b:?}");
            assert!(joined.contains(&a) && joined.contains(&b));
        }
    }
}
