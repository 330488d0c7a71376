//! The kallsyms table built from a real ELF: this test binary itself.
//!
//! The binary is PIE, so run-time addresses are link-time addresses (what the table holds) plus
//! the load bias. The bias comes from `/proc/self/maps`: the mapping of our executable at file
//! offset 0 starts at the bias, since the first `PT_LOAD` of a PIE links at address 0 (checked).

use std::sync::OnceLock;

use axebpf_core::symbols::{END_MARKER, SymbolError, SymbolTable, build_blob, format_symbol};

/// A function of this binary, to look up both ways. Long enough for an offset inside it.
#[inline(never)]
pub fn axtrace_symbol_probe(n: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..std::hint::black_box(n) {
        acc = acc.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
    }
    acc
}

const PROBE: &str = "symbols::axtrace_symbol_probe";

fn exe() -> &'static [u8] {
    static EXE: OnceLock<Vec<u8>> = OnceLock::new();
    EXE.get_or_init(|| std::fs::read(std::env::current_exe().unwrap()).unwrap())
}

fn blob() -> &'static [u8] {
    static BLOB: OnceLock<Vec<u8>> = OnceLock::new();
    BLOB.get_or_init(|| build_blob(exe()).expect("build the table"))
}

fn table() -> SymbolTable {
    SymbolTable::from_blob(blob()).expect("our own blob is valid")
}

/// Load bias of this executable: start of its mapping at file offset 0.
fn load_bias() -> u64 {
    use object::{Object, ObjectSegment};
    let file = object::File::parse(exe()).unwrap();
    let first = file.segments().map(|s| s.address()).min().unwrap();
    assert_eq!(first, 0, "a PIE links its first segment at 0");
    let me = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let line = maps
        .lines()
        .find(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 6 && u64::from_str_radix(f[2], 16) == Ok(0) && me.to_str() == Some(f[5])
        })
        .expect("our executable in /proc/self/maps");
    u64::from_str_radix(line.split('-').next().unwrap(), 16).unwrap()
}

#[test]
fn every_symbol_round_trips() {
    let table = table();
    let mut count = 0;
    let mut duplicates = 0;
    for (name, addr) in table.iter() {
        assert_eq!(
            table.lookup_address(addr),
            Some((name.clone(), 0)),
            "{name}"
        );
        let by_name = table.lookup_name(&name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(table.lookup_address(by_name), Some((name.clone(), 0)));
        duplicates += usize::from(by_name != addr);
        count += 1;
    }
    println!(
        "{count} symbols, {duplicates} behind a same-named one, {} bytes",
        blob().len()
    );
    assert_eq!(count, table.len());
    assert!(count >= 1000, "only {count} symbols");
    assert_eq!(table.check_round_trip(), Ok(count));
}

#[test]
fn probe_both_ways_and_offsets() {
    let table = table();
    let bias = load_bias();
    let probe = axtrace_symbol_probe as *const () as usize as u64;
    assert_eq!(table.lookup_name(PROBE), Some(probe - bias));
    assert_eq!(
        table.lookup_address(probe - bias),
        Some((PROBE.to_string(), 0))
    );
    assert_eq!(
        table.symbolize(probe - bias + 0x4).as_deref(),
        Some("symbols::axtrace_symbol_probe+0x4")
    );
    assert_eq!(format_symbol("f", 0x1c), "f+0x1c");
    assert!(axtrace_symbol_probe(3) != 1);
    // The mangled name works too.
    let mangled = {
        use object::{Object, ObjectSymbol};
        let file = object::File::parse(exe()).unwrap();
        let sym = file
            .symbols()
            .find(|s| s.address() == probe - bias)
            .unwrap();
        sym.name().unwrap().to_string()
    };
    assert_ne!(mangled, PROBE);
    assert_eq!(table.lookup_name(&mangled), Some(probe - bias));
    // Outside the text: nothing; the end marker is not a symbol.
    let range = table.text_range();
    assert_eq!(table.lookup_address(range.start - 1), None);
    assert_eq!(table.lookup_address(range.end), None);
    assert!(table.lookup_address(range.end - 1).is_some());
    assert_eq!(table.lookup_name(END_MARKER), None);
    assert_eq!(table.lookup_name("no_such_symbol_anywhere"), None);
    assert_eq!(table.as_bytes(), blob());
}

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Any outcome but a panic is fine; a blob that still validates must answer lookups.
fn exercise(bytes: &[u8]) -> bool {
    match SymbolTable::from_blob(bytes) {
        Ok(t) => {
            let r = t.text_range();
            for addr in [r.start, r.start + (r.end - r.start) / 2, r.end - 1] {
                if let Some((name, _)) = t.lookup_address(addr) {
                    t.lookup_name(&name);
                }
            }
            true
        }
        Err(_) => false,
    }
}

#[test]
fn truncated_blobs_are_errors() {
    let blob = blob();
    let lengths = (0..512).chain((512..blob.len()).step_by(509));
    for len in lengths {
        assert!(
            SymbolTable::from_blob(&blob[..len]).is_err(),
            "truncated at {len}"
        );
        // Truncated with the length field patched to match: still an error.
        let mut cut = blob[..len].to_vec();
        if len >= 8 {
            cut[..8].copy_from_slice(&(len as u64).to_le_bytes());
            assert!(SymbolTable::from_blob(&cut).is_err(), "patched at {len}");
        }
    }
}

#[test]
fn bad_counts_and_lengths_are_errors() {
    let blob = blob();
    let count = u64::from_le_bytes(blob[8..16].try_into().unwrap());
    for bad in [
        0,
        1,
        count - 1,
        count + 1,
        count * 2,
        u64::MAX,
        u64::MAX / 8,
    ] {
        let mut b = blob.to_vec();
        b[8..16].copy_from_slice(&bad.to_le_bytes());
        assert!(SymbolTable::from_blob(&b).is_err(), "count {bad}");
    }
    let names_at = (16 + 16 * count as usize).next_multiple_of(8);
    for bad in [0, 1, u64::MAX, u64::MAX - 7, blob.len() as u64] {
        let mut b = blob.to_vec();
        b[names_at..names_at + 8].copy_from_slice(&bad.to_le_bytes());
        assert!(SymbolTable::from_blob(&b).is_err(), "names length {bad}");
    }
    let mut longer = blob.to_vec();
    longer.extend_from_slice(&[0; 8]);
    assert!(SymbolTable::from_blob(&longer).is_err());
    let total = longer.len() as u64;
    longer[..8].copy_from_slice(&total.to_le_bytes());
    assert!(SymbolTable::from_blob(&longer).is_err(), "trailing bytes");
    // A swapped name order and a broken address order.
    let seqs = 16 + 12 * count as usize;
    let mut b = blob.to_vec();
    b.copy_within(seqs..seqs + 4, seqs + 4 * 5);
    assert!(SymbolTable::from_blob(&b).is_err(), "name order");
    let mut b = blob.to_vec();
    b.copy_within(16..24, 24);
    assert!(SymbolTable::from_blob(&b).is_err(), "address order");
}

#[test]
fn random_and_corrupted_blobs_do_not_panic() {
    let blob = blob();
    let mut rng = noise(0x5eed);
    for len in [0usize, 7, 8, 16, 64, 4096, 65536] {
        for _ in 0..20 {
            let mut b: Vec<u8> = (0..len).map(|_| rng() as u8).collect();
            if len >= 16 {
                b[..8].copy_from_slice(&(len as u64).to_le_bytes());
                b[8..16].copy_from_slice(&(rng() % 64).to_le_bytes());
            }
            assert!(!exercise(&b), "random blob of {len} bytes accepted");
        }
    }
    // Flip bytes all over a real blob: errors or working tables, never a panic.
    let mut accepted = 0;
    for _ in 0..300 {
        let mut b = blob.to_vec();
        for _ in 0..1 + rng() % 4 {
            let at = (rng() % b.len() as u64) as usize;
            b[at] ^= 1 << (rng() % 8);
        }
        accepted += usize::from(exercise(&b));
    }
    println!("{accepted} of 300 corrupted blobs still valid");
}

/// ksym 0.6's `gen_ksym` writes token id 511 as `FF 01 FF FF`; ksym's reader decodes that as
/// token 1 plus a raw 0xFF, i.e. not UTF-8, i.e. an empty name. Such a blob is rejected.
#[test]
fn ksym_two_byte_token_511_is_rejected() {
    let mut token_table = Vec::new();
    let mut token_index = Vec::new();
    for i in 0..512u32 {
        token_index.push(token_table.len() as u32);
        token_table.extend_from_slice(format!("tok{i:03}::").as_bytes());
    }
    let record = |name: &[u8]| {
        let mut r = vec![b'T'];
        r.extend_from_slice(&(name.len() as u16).to_le_bytes());
        r.extend_from_slice(name);
        r
    };
    let mut names = record(b"\xff\x01\xff\xffcorrupted");
    let second = names.len() as u32;
    names.extend(record(END_MARKER.as_bytes()));
    let mut b = Vec::new();
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&2u64.to_le_bytes());
    for v in [0x1000u64, 0x2000] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for v in [0u32, second, 1, 0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for section in [&names, &token_table] {
        b.resize(b.len().next_multiple_of(8), 0);
        b.extend_from_slice(&(section.len() as u64).to_le_bytes());
        b.extend_from_slice(section);
    }
    b.resize(b.len().next_multiple_of(8), 0);
    b.extend_from_slice(&(token_index.len() as u64).to_le_bytes());
    token_index
        .iter()
        .for_each(|i| b.extend_from_slice(&i.to_le_bytes()));
    let total = b.len() as u64;
    b[..8].copy_from_slice(&total.to_le_bytes());
    assert_eq!(
        SymbolTable::from_blob(&b).unwrap_err(),
        SymbolError::Name {
            index: 0,
            what: "name is not UTF-8"
        }
    );
    // The same bytes through ksym's own reader: the name comes back empty.
    // (ksym reads in place: copy into an 8-byte-aligned buffer.)
    let mut words = vec![0u64; b.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..b.len()].copy_from_slice(&b);
    let bytes = &bytemuck::cast_slice::<u64, u8>(&words)[..b.len()];
    let mapped = ksym::KallsymsMapped::from_blob(bytes, 0x1000, 0x2000).unwrap();
    let mut buf = [0u8; ksym::KSYM_NAME_LEN];
    assert_eq!(
        mapped.lookup_address(0x1000, &mut buf).map(|r| r.0),
        Some("")
    );
    assert_eq!(mapped.lookup_name("tok511::corrupted"), None);
}
