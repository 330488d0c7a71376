//! Map definitions: libbpf's BTF-defined `.maps` and the legacy `struct bpf_map_def` in `maps`.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::LoadError;
use super::btf::Btf;
use super::elf::{Elf, Section};

/// Linux `BPF_MAP_TYPE_*` numbers of the map types the runtime implements, named for map
/// definitions; the one table is [`crate::maps::MapType`].
pub mod map_type {
    use crate::maps::MapType;

    /// `BPF_MAP_TYPE_HASH`.
    pub const HASH: u32 = MapType::Hash as u32;
    /// `BPF_MAP_TYPE_ARRAY`.
    pub const ARRAY: u32 = MapType::Array as u32;
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
    pub const PERF_EVENT_ARRAY: u32 = MapType::PerfEventArray as u32;
    /// `BPF_MAP_TYPE_PERCPU_HASH`.
    pub const PERCPU_HASH: u32 = MapType::PercpuHash as u32;
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    pub const PERCPU_ARRAY: u32 = MapType::PercpuArray as u32;
    /// `BPF_MAP_TYPE_LRU_HASH`.
    pub const LRU_HASH: u32 = MapType::LruHash as u32;
}

/// One map an object declares.
///
/// `max_entries` is 0 when the object leaves it to the runtime (libbpf's convention for a
/// `PERF_EVENT_ARRAY`: one entry per CPU). A `PERF_EVENT_ARRAY` without key or value size gets
/// 4 for each (an `int` CPU index and a `u32` descriptor), as in libbpf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDef {
    /// The map's symbol name.
    pub name: String,
    /// Linux `BPF_MAP_TYPE_*` number of a type [`crate::maps::MapType`] implements.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries (0: the runtime decides).
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub flags: u32,
}

impl MapDef {
    /// The spec of the map this definition asks for (an unknown type is the error).
    pub fn spec(&self) -> Result<crate::maps::MapSpec, crate::maps::MapError> {
        Ok(crate::maps::MapSpec {
            map_type: crate::maps::MapType::try_from(self.map_type)?,
            key_size: self.key_size,
            value_size: self.value_size,
            max_entries: self.max_entries,
            flags: self.flags,
        })
    }
}

/// Where a map's definition sits: relocations against `(section, offset)` refer to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct MapSite {
    pub section: usize,
    pub offset: u64,
}

/// Reads every map of `.maps` (BTF) and `maps` (legacy), in section then offset order.
pub(crate) fn parse_maps(elf: &Elf<'_>) -> Result<Vec<(MapSite, MapDef)>, LoadError> {
    let mut maps = Vec::new();
    for section in &elf.sections {
        match section.name {
            ".maps" => btf_maps(elf, section, &mut maps)?,
            "maps" => legacy_maps(elf, section, &mut maps)?,
            _ => {}
        }
    }
    maps.sort_by_key(|(site, _)| (site.section, site.offset));
    Ok(maps)
}

/// Map attributes as declared, before validation.
#[derive(Default)]
struct Attrs {
    map_type: Option<u32>,
    key_size: Option<u32>,
    value_size: Option<u32>,
    max_entries: u32,
    flags: u32,
}

impl Attrs {
    fn finish(self, name: &str) -> Result<MapDef, LoadError> {
        let missing = |attribute| LoadError::MissingMapAttribute {
            map: name.to_string(),
            attribute,
        };
        let map_type = self.map_type.ok_or_else(|| missing("type"))?;
        if crate::maps::MapType::try_from(map_type).is_err() {
            return Err(LoadError::UnsupportedMapType {
                map: name.to_string(),
                map_type,
            });
        }
        let default = (map_type == map_type::PERF_EVENT_ARRAY).then_some(4);
        let size = |given: Option<u32>, what| {
            given
                .filter(|&size| size != 0)
                .or(default)
                .ok_or_else(|| missing(what))
        };
        Ok(MapDef {
            name: name.to_string(),
            map_type,
            key_size: size(self.key_size, "key size")?,
            value_size: size(self.value_size, "value size")?,
            max_entries: self.max_entries,
            flags: self.flags,
        })
    }
}

/// libbpf's BTF-defined maps: each variable of the `.maps` DATASEC is a struct whose members
/// are `int (*name)[N]` (`__uint`) or `T *name` (`__type`).
fn btf_maps(
    elf: &Elf<'_>,
    section: &Section<'_>,
    out: &mut Vec<(MapSite, MapDef)>,
) -> Result<(), LoadError> {
    let btf_section = elf.section_by_name(".BTF").ok_or_else(|| LoadError::Btf {
        offset: 0,
        reason: "the object has a `.maps` section but no `.BTF` section".into(),
    })?;
    let btf = Btf::parse(btf_section.data()?)?;
    let vars = btf.datasec_vars(".maps")?.ok_or_else(|| LoadError::Btf {
        offset: 0,
        reason: "no DATASEC named `.maps`".into(),
    })?;
    let offsets: BTreeMap<&str, u64> = elf
        .symbols
        .iter()
        .filter(|sym| sym.section == Some(section.index))
        .map(|sym| (sym.name, sym.value))
        .collect();
    for var in vars {
        let name = btf.name(var)?;
        let bad = |reason: String| LoadError::BadMapDefinition {
            map: name.to_string(),
            reason,
        };
        let offset = *offsets
            .get(name)
            .ok_or_else(|| bad("no symbol of that name in `.maps`".into()))?;
        let mut attrs = Attrs::default();
        for (member, ty) in btf.members(btf.var_type(var)?)? {
            let uint = || -> Result<u32, LoadError> {
                btf.pointee(ty)?
                    .map(|array| btf.array_len(array))
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| bad(format!("`{member}` is not declared with __uint()")))
            };
            let size = || -> Result<u32, LoadError> {
                let pointee = btf.pointee(ty)?;
                let pointee = pointee
                    .ok_or_else(|| bad(format!("`{member}` is not declared with __type()")))?;
                btf.size_of(pointee)
            };
            match member {
                "type" => attrs.map_type = Some(uint()?),
                "max_entries" => attrs.max_entries = uint()?,
                "map_flags" => attrs.flags = uint()?,
                "key_size" => set_size(&mut attrs.key_size, uint()?, "key", &bad)?,
                "value_size" => set_size(&mut attrs.value_size, uint()?, "value", &bad)?,
                "key" => set_size(&mut attrs.key_size, size()?, "key", &bad)?,
                "value" => set_size(&mut attrs.value_size, size()?, "value", &bad)?,
                // Pinning and NUMA placement mean nothing inside the hypervisor.
                "pinning" | "numa_node" => {
                    uint()?;
                }
                other => return Err(bad(format!("unsupported map attribute `{other}`"))),
            }
        }
        let site = MapSite {
            section: section.index,
            offset,
        };
        out.push((site, attrs.finish(name)?));
    }
    Ok(())
}

/// Records a key or value size, rejecting two declarations that disagree.
fn set_size(
    slot: &mut Option<u32>,
    size: u32,
    what: &str,
    bad: &impl Fn(String) -> LoadError,
) -> Result<(), LoadError> {
    match *slot {
        Some(old) if old != size => Err(bad(format!(
            "{what} size declared twice, as {old} and {size} bytes"
        ))),
        _ => {
            *slot = Some(size);
            Ok(())
        }
    }
}

/// The fields of the legacy `struct bpf_map_def` the loader reads (type .. map_flags).
const LEGACY_FIELDS: usize = 5;

/// Legacy `struct bpf_map_def SEC("maps")`: each object symbol in `maps` is one definition;
/// trailing fields beyond `map_flags` (id, pinning, …) are ignored, a missing `map_flags` is 0.
fn legacy_maps(
    elf: &Elf<'_>,
    section: &Section<'_>,
    out: &mut Vec<(MapSite, MapDef)>,
) -> Result<(), LoadError> {
    let data = section.data()?;
    let symbols = elf.sized_symbols(section.index, data.len() as u64, |sym| {
        !sym.name.is_empty() && sym.kind != object::elf::STT_SECTION.0
    });
    for (sym, size) in symbols {
        let bad = |reason: String| LoadError::BadMapDefinition {
            map: sym.name.to_string(),
            reason,
        };
        let bytes = usize::try_from(sym.value)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(start, len)| data.get(start..start.checked_add(len)?))
            .ok_or_else(|| {
                bad(format!(
                    "definition {}+{size} lies outside `maps`",
                    sym.value
                ))
            })?;
        if bytes.len() < 16 {
            return Err(bad(format!(
                "legacy definition has {} bytes, at least 16 needed",
                bytes.len()
            )));
        }
        let mut field = [0u32; LEGACY_FIELDS];
        for (slot, chunk) in field.iter_mut().zip(bytes.chunks_exact(4)) {
            let mut word = [0u8; 4];
            word.copy_from_slice(chunk);
            *slot = u32::from_le_bytes(word);
        }
        let [map_type, key_size, value_size, max_entries, flags] = field;
        let attrs = Attrs {
            map_type: Some(map_type),
            key_size: Some(key_size),
            value_size: Some(value_size),
            max_entries,
            flags,
        };
        let site = MapSite {
            section: section.index,
            offset: sym.value,
        };
        out.push((site, attrs.finish(sym.name)?));
    }
    Ok(())
}
