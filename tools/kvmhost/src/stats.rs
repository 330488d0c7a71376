//! KVM's own per-vCPU counters, read through its binary statistics interface
//! (`KVM_GET_STATS_FD`), to cross-check what the run loop and the tracer counted.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;

/// `_IO(KVMIO, 0xce)`.
const KVM_GET_STATS_FD: libc::c_ulong = 0xae_ce;
/// The counters worth comparing with ours.
pub const NAMES: [&str; 4] = ["exits", "io_exits", "mmio_exits", "halt_exits"];

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The [`NAMES`] counters of a vCPU (`None` if this KVM has no binary stats).
pub fn read(vcpu: &impl AsRawFd) -> Option<BTreeMap<&'static str, u64>> {
    // SAFETY: KVM_GET_STATS_FD takes no argument and returns a new fd or -1.
    let fd = unsafe { libc::ioctl(vcpu.as_raw_fd(), KVM_GET_STATS_FD as _, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` is a fresh descriptor we own from here on.
    let file = unsafe { File::from_raw_fd(fd) };
    let mut header = [0u8; 24];
    file.read_exact_at(&mut header, 0).ok()?;
    let name_size = u32_at(&header, 4)? as usize;
    let num_desc = u32_at(&header, 8)? as usize;
    let desc_offset = u64::from(u32_at(&header, 16)?);
    let data_offset = u64::from(u32_at(&header, 20)?);
    // Descriptor: flags u32, exponent i16, size u16, offset u32, bucket_size u32, name.
    let desc_size = 16 + name_size;
    let mut descs = vec![0u8; desc_size * num_desc];
    file.read_exact_at(&mut descs, desc_offset).ok()?;
    let mut found = BTreeMap::new();
    for desc in descs.chunks_exact(desc_size) {
        let name_bytes = &desc[16..];
        let end = name_bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(name_bytes.len());
        let name = std::str::from_utf8(&name_bytes[..end]).ok()?;
        if let Some(&wanted) = NAMES.iter().find(|&&n| n == name) {
            let offset = u64::from(u32_at(desc, 8)?);
            let mut value = [0u8; 8];
            file.read_exact_at(&mut value, data_offset + offset).ok()?;
            found.insert(wanted, u64::from_le_bytes(value));
        }
    }
    Some(found)
}
