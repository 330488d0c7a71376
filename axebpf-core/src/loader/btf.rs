//! A minimal BTF reader: just enough of `.BTF` to read libbpf-style map definitions.
//!
//! It parses the header, the type section and the string section, and answers four questions:
//! a type's kind and name, the members of a struct, the size of a type (following typedefs and
//! qualifiers), and the variables of a DATASEC. Every read is bounds-checked; a malformed section
//! is a [`LoadError::Btf`] with the byte offset at fault.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::LoadError;

/// `BTF_MAGIC` as read little-endian.
const MAGIC: u16 = 0xeb9f;
/// Size of the fixed part of a `struct btf_type`.
const TYPE_HEADER: usize = 12;
/// How deep type chains (typedef → const → …) may go before we call them a cycle.
const MAX_DEPTH: usize = 32;

/// `BTF_KIND_*` values used here.
pub(crate) mod kind {
    /// Integer.
    pub const INT: u8 = 1;
    /// Pointer.
    pub const PTR: u8 = 2;
    /// Array.
    pub const ARRAY: u8 = 3;
    /// Struct.
    pub const STRUCT: u8 = 4;
    /// Union.
    pub const UNION: u8 = 5;
    /// Enum (32-bit).
    pub const ENUM: u8 = 6;
    /// Forward declaration.
    pub const FWD: u8 = 7;
    /// Typedef.
    pub const TYPEDEF: u8 = 8;
    /// `volatile`.
    pub const VOLATILE: u8 = 9;
    /// `const`.
    pub const CONST: u8 = 10;
    /// `restrict`.
    pub const RESTRICT: u8 = 11;
    /// Function.
    pub const FUNC: u8 = 12;
    /// Function prototype.
    pub const FUNC_PROTO: u8 = 13;
    /// Variable.
    pub const VAR: u8 = 14;
    /// Data section.
    pub const DATASEC: u8 = 15;
    /// Floating point.
    pub const FLOAT: u8 = 16;
    /// Declaration tag.
    pub const DECL_TAG: u8 = 17;
    /// Type tag.
    pub const TYPE_TAG: u8 = 18;
    /// Enum (64-bit).
    pub const ENUM64: u8 = 19;
}

/// One type of the type section.
#[derive(Debug, Clone, Copy)]
struct Type {
    name_off: u32,
    kind: u8,
    vlen: usize,
    /// `size` or `type`, depending on the kind.
    size_or_type: u32,
    /// Byte offset (in `.BTF`) of the kind-specific data after the 12-byte header.
    extra: usize,
}

/// A parsed `.BTF` section.
#[derive(Debug)]
pub(crate) struct Btf<'a> {
    data: &'a [u8],
    /// Types by id; index 0 is `void`.
    types: Vec<Type>,
    /// Byte offsets of the string section in `data`.
    strings: (usize, usize),
}

impl<'a> Btf<'a> {
    /// Parses the header and indexes the type section.
    pub fn parse(data: &'a [u8]) -> Result<Self, LoadError> {
        let magic = u16::from_le_bytes(array(data, 0)?);
        if magic != MAGIC {
            return Err(err(
                0,
                format!("bad magic {magic:#06x} (want 0xeb9f, little-endian)"),
            ));
        }
        let hdr_len = read_u32(data, 4)? as usize;
        let field = |at: usize| read_u32(data, at).map(|v| v as usize);
        let (type_off, type_len) = (field(8)?, field(12)?);
        let (str_off, str_len) = (field(16)?, field(20)?);
        let range = |off: usize, len: usize, what: &str| {
            let start = hdr_len.checked_add(off);
            let end = start.and_then(|s| s.checked_add(len));
            match (start, end) {
                (Some(start), Some(end)) if end <= data.len() => Ok((start, end)),
                _ => Err(err(
                    4,
                    format!("{what} section ({off}+{len}) lies outside `.BTF`"),
                )),
            }
        };
        let (type_start, type_end) = range(type_off, type_len, "type")?;
        let strings = range(str_off, str_len, "string")?;
        let mut types = Vec::new();
        types.push(Type {
            name_off: 0,
            kind: 0,
            vlen: 0,
            size_or_type: 0,
            extra: type_start,
        });
        let mut at = type_start;
        while at < type_end {
            let info = read_u32(data, at + 4)?;
            let ty = Type {
                name_off: read_u32(data, at)?,
                kind: ((info >> 24) & 0x1f) as u8,
                vlen: (info & 0xffff) as usize,
                size_or_type: read_u32(data, at + 8)?,
                extra: at + TYPE_HEADER,
            };
            let extra_len = match ty.kind {
                kind::INT | kind::VAR | kind::DECL_TAG => 4,
                kind::ARRAY => 12,
                kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => ty.vlen * 12,
                kind::ENUM | kind::FUNC_PROTO => ty.vlen * 8,
                kind::PTR
                | kind::FWD
                | kind::TYPEDEF
                | kind::VOLATILE
                | kind::CONST
                | kind::RESTRICT
                | kind::FUNC
                | kind::FLOAT
                | kind::TYPE_TAG => 0,
                other => return Err(err(at, format!("unknown BTF kind {other}"))),
            };
            at = ty.extra + extra_len;
            if at > type_end {
                return Err(err(
                    ty.extra,
                    "type runs past the end of the type section".into(),
                ));
            }
            types.push(ty);
        }
        Ok(Self {
            data,
            types,
            strings,
        })
    }

    fn ty(&self, id: u32) -> Result<Type, LoadError> {
        self.types.get(id as usize).copied().ok_or_else(|| {
            err(
                0,
                format!("reference to type id {id}, which does not exist"),
            )
        })
    }

    fn u32_at(&self, at: usize) -> Result<u32, LoadError> {
        read_u32(self.data, at)
    }

    /// The string at `offset` in the string section.
    fn string(&self, offset: u32) -> Result<&'a str, LoadError> {
        let (start, end) = self.strings;
        let bytes = start
            .checked_add(offset as usize)
            .and_then(|s| self.data.get(s..end))
            .ok_or_else(|| err(start, format!("string offset {offset} is out of range")))?;
        let len = bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| err(start, format!("string at {offset} is not NUL-terminated")))?;
        core::str::from_utf8(&bytes[..len])
            .map_err(|_| err(start, format!("string at {offset} is not UTF-8")))
    }

    /// A type's name (empty for anonymous types).
    pub fn name(&self, id: u32) -> Result<&'a str, LoadError> {
        self.string(self.ty(id)?.name_off)
    }

    /// Follows typedefs and qualifiers to the underlying type id.
    pub fn skip_mods(&self, mut id: u32) -> Result<u32, LoadError> {
        for _ in 0..MAX_DEPTH {
            let ty = self.ty(id)?;
            match ty.kind {
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
                    id = ty.size_or_type;
                }
                _ => return Ok(id),
            }
        }
        Err(err(
            self.ty(id)?.extra,
            format!("type chain from id {id} is too deep"),
        ))
    }

    /// The target of a `PTR` (after skipping modifiers on the pointer itself).
    pub fn pointee(&self, id: u32) -> Result<Option<u32>, LoadError> {
        let ty = self.ty(self.skip_mods(id)?)?;
        Ok((ty.kind == kind::PTR).then_some(ty.size_or_type))
    }

    /// The element count of an `ARRAY` (after skipping modifiers), if `id` is one.
    pub fn array_len(&self, id: u32) -> Result<Option<u32>, LoadError> {
        let ty = self.ty(self.skip_mods(id)?)?;
        if ty.kind != kind::ARRAY {
            return Ok(None);
        }
        Ok(Some(self.u32_at(ty.extra + 8)?))
    }

    /// The type a `VAR` has.
    pub fn var_type(&self, id: u32) -> Result<u32, LoadError> {
        let ty = self.ty(id)?;
        if ty.kind != kind::VAR {
            return Err(err(ty.extra, format!("type id {id} is not a VAR")));
        }
        Ok(ty.size_or_type)
    }

    /// `(name, type id)` of each member of a `STRUCT` or `UNION` (after skipping modifiers).
    pub fn members(&self, id: u32) -> Result<Vec<(&'a str, u32)>, LoadError> {
        let ty = self.ty(self.skip_mods(id)?)?;
        if ty.kind != kind::STRUCT && ty.kind != kind::UNION {
            return Err(err(ty.extra, format!("type id {id} is not a struct")));
        }
        (0..ty.vlen)
            .map(|i| {
                let at = ty.extra + i * 12;
                Ok((self.string(self.u32_at(at)?)?, self.u32_at(at + 4)?))
            })
            .collect()
    }

    /// Variable type ids of the `DATASEC` named `name`, if there is one.
    pub fn datasec_vars(&self, name: &str) -> Result<Option<Vec<u32>>, LoadError> {
        for ty in &self.types {
            if ty.kind != kind::DATASEC || self.string(ty.name_off)? != name {
                continue;
            }
            let vars = (0..ty.vlen)
                .map(|i| self.u32_at(ty.extra + i * 12))
                .collect::<Result<_, _>>()?;
            return Ok(Some(vars));
        }
        Ok(None)
    }

    /// The size in bytes of a type, following typedefs, qualifiers and variables.
    pub fn size_of(&self, id: u32) -> Result<u32, LoadError> {
        self.size_at_depth(id, 0)
    }

    fn size_at_depth(&self, id: u32, depth: usize) -> Result<u32, LoadError> {
        let ty = self.ty(id)?;
        if depth > MAX_DEPTH {
            return Err(err(
                ty.extra,
                format!("type chain from id {id} is too deep"),
            ));
        }
        match ty.kind {
            kind::INT
            | kind::STRUCT
            | kind::UNION
            | kind::ENUM
            | kind::ENUM64
            | kind::FLOAT
            | kind::DATASEC => Ok(ty.size_or_type),
            kind::PTR => Ok(8),
            kind::ARRAY => {
                let elem = self.u32_at(ty.extra)?;
                let count = self.u32_at(ty.extra + 8)?;
                self.size_at_depth(elem, depth + 1)?
                    .checked_mul(count)
                    .ok_or_else(|| err(ty.extra, format!("array type id {id} is too large")))
            }
            kind::TYPEDEF
            | kind::VOLATILE
            | kind::CONST
            | kind::RESTRICT
            | kind::TYPE_TAG
            | kind::VAR => self.size_at_depth(ty.size_or_type, depth + 1),
            other => Err(err(
                ty.extra,
                format!("type id {id} (kind {other}) has no size"),
            )),
        }
    }
}

fn err(offset: usize, reason: String) -> LoadError {
    LoadError::Btf { offset, reason }
}

fn array<const N: usize>(data: &[u8], at: usize) -> Result<[u8; N], LoadError> {
    at.checked_add(N)
        .and_then(|end| data.get(at..end))
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| err(at, "truncated".to_string()))
}

fn read_u32(data: &[u8], at: usize) -> Result<u32, LoadError> {
    array(data, at).map(u32::from_le_bytes)
}
