//! Host files through Arm semihosting (`HLT #0xF000`): how the dump leaves the hypervisor and
//! how `trace load` reads objects from the host under QEMU.
//!
//! Only usable when QEMU runs with `-semihosting-config enable=on,target=native` (the trap is
//! an undefined instruction otherwise), so the glue uses it only when the build asked for it
//! (`AXTRACE_SEMIHOSTING=1`, set by `cargo xtask axvisor build`). QEMU performs each call on
//! the host file synchronously: every chunk written is on the host disk when the call returns.

use alloc::string::String;
use alloc::vec::Vec;
use core::arch::asm;

const SYS_OPEN: usize = 0x01;
const SYS_CLOSE: usize = 0x02;
const SYS_WRITE: usize = 0x05;
const SYS_READ: usize = 0x06;
const SYS_FLEN: usize = 0x0c;
const SYS_ERRNO: usize = 0x13;

/// `fopen` modes by the semihosting numbering.
const MODE_RB: usize = 1;
const MODE_WB: usize = 5;

/// Whether this image was built to use semihosting.
pub fn enabled() -> bool {
    option_env!("AXTRACE_SEMIHOSTING") == Some("1")
}

/// One semihosting call: operation `op`, parameter block `params`.
fn call(op: usize, params: &[usize]) -> isize {
    let ret: isize;
    // SAFETY: the semihosting ABI: w0 = operation, x1 = address of the parameter block, result
    // in x0. QEMU reads the block and the buffers it names through this CPU's current
    // translation (all kernel memory here) and touches nothing else; `enabled()` guards that
    // QEMU handles the trap.
    unsafe {
        asm!(
            "hlt #0xf000",
            inlateout("x0") op => ret,
            in("x1") params.as_ptr(),
            options(nostack)
        );
    }
    ret
}

fn errno() -> isize {
    call(SYS_ERRNO, &[])
}

/// A host file opened through semihosting.
#[derive(Debug)]
pub struct HostFile {
    handle: usize,
}

impl HostFile {
    fn open(path: &str, mode: usize) -> Result<Self, String> {
        if !enabled() {
            return Err(String::from(
                "host files need semihosting (an image built by `cargo xtask axvisor`, run in QEMU)",
            ));
        }
        let mut name: Vec<u8> = path.as_bytes().to_vec();
        name.push(0);
        let handle = call(SYS_OPEN, &[name.as_ptr() as usize, mode, path.len()]);
        if handle < 0 {
            return Err(alloc::format!(
                "the host could not open `{path}` (errno {})",
                errno()
            ));
        }
        Ok(Self {
            handle: handle as usize,
        })
    }

    /// Creates (or truncates) `path` on the host, relative to QEMU's working directory.
    pub fn create(path: &str) -> Result<Self, String> {
        Self::open(path, MODE_WB)
    }

    /// Appends all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let not_written = call(
                SYS_WRITE,
                &[self.handle, rest.as_ptr() as usize, rest.len()],
            );
            if not_written < 0 || not_written as usize > rest.len() {
                return Err(alloc::format!(
                    "semihosting write failed (errno {})",
                    errno()
                ));
            }
            let written = rest.len() - not_written as usize;
            if written == 0 {
                return Err(alloc::format!(
                    "the host accepted no bytes (errno {})",
                    errno()
                ));
            }
            rest = &rest[written..];
        }
        Ok(())
    }

    /// The whole content of host file `path`.
    pub fn read(path: &str) -> Result<Vec<u8>, String> {
        let file = Self::open(path, MODE_RB)?;
        let len = call(SYS_FLEN, &[file.handle]);
        if len < 0 {
            return Err(alloc::format!(
                "could not size `{path}` (errno {})",
                errno()
            ));
        }
        let mut bytes = alloc::vec![0u8; len as usize];
        let mut done = 0;
        while done < bytes.len() {
            let rest = &mut bytes[done..];
            let not_read = call(
                SYS_READ,
                &[file.handle, rest.as_mut_ptr() as usize, rest.len()],
            );
            if not_read < 0 || not_read as usize >= rest.len() {
                return Err(alloc::format!(
                    "`{path}` ended or failed after {done} of {len} bytes"
                ));
            }
            done += rest.len() - not_read as usize;
        }
        Ok(bytes)
    }
}

impl Drop for HostFile {
    fn drop(&mut self) {
        call(SYS_CLOSE, &[self.handle]);
    }
}
