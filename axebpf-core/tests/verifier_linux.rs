//! Cross-checks the verifier corpus against the Linux kernel's verifier: every program whose
//! header does not say `linux: skip` is loaded with raw `bpf(2)` (`BPF_PROG_LOAD`, type
//! tracepoint, license GPL) after creating its maps (`BPF_MAP_CREATE`), and the kernel's verdict
//! must be ours — or, where the header marks an intentional difference (`linux: accept -- why`
//! / `linux: reject -- why`), the one it names.
//!
//! The labels were taken on Linux 6.18; another kernel may disagree where Linux changed (a
//! mismatch names the program and the kernel's reason). Needs root (CAP_BPF + CAP_PERFMON); otherwise, or without `bpf(2)`, it prints
//! `skipped: <why>` and passes. Run alone with
//! `cargo test -p axebpf-core --test verifier_linux -- --nocapture`.

#[path = "verifier/corpus.rs"]
mod corpus;

use corpus::{Case, Linux, Verdict};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
/// `union bpf_attr` as a zeroed buffer (the kernel accepts a larger, zero-padded attr).
const ATTR_SIZE: usize = 128;

fn bpf(command: libc::c_long, attr: &mut [u8; ATTR_SIZE]) -> Result<i32, std::io::Error> {
    // SAFETY: `attr` is a valid, writable `union bpf_attr`-sized buffer for the call's duration;
    // every pointer inside it (instructions, license, log) outlives the call (see callers).
    let fd = unsafe { libc::syscall(libc::SYS_bpf, command, attr.as_mut_ptr(), ATTR_SIZE) };
    if fd < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(fd as i32)
    }
}

fn put_u32(attr: &mut [u8; ATTR_SIZE], at: usize, value: u32) {
    attr[at..at + 4].copy_from_slice(&value.to_ne_bytes());
}

fn put_u64(attr: &mut [u8; ATTR_SIZE], at: usize, value: u64) {
    attr[at..at + 8].copy_from_slice(&value.to_ne_bytes());
}

/// A file descriptor closed on drop.
struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own this descriptor (returned by bpf(2)) and close it once.
        unsafe { libc::close(self.0) };
    }
}

fn create_map(case: &Case, index: usize) -> Result<Fd, String> {
    let spec = case.maps[index].spec;
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, spec.map_type as u32);
    put_u32(&mut attr, 4, spec.key_size);
    put_u32(&mut attr, 8, spec.value_size);
    put_u32(&mut attr, 12, spec.max_entries);
    bpf(BPF_MAP_CREATE, &mut attr).map(Fd).map_err(|e| {
        format!(
            "{}: BPF_MAP_CREATE {}: {e}",
            case.name, case.maps[index].name
        )
    })
}

/// Loads `code` as a tracepoint program; `Ok(())` if the kernel accepts it, else its log.
fn load(code: &[u8]) -> Result<(), String> {
    let license = c"GPL";
    let mut log = vec![0u8; 1 << 16];
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, BPF_PROG_TYPE_TRACEPOINT);
    put_u32(&mut attr, 4, (code.len() / 8) as u32);
    put_u64(&mut attr, 8, code.as_ptr() as u64);
    put_u64(&mut attr, 16, license.as_ptr() as u64);
    put_u32(&mut attr, 24, 1);
    put_u32(&mut attr, 28, log.len() as u32);
    put_u64(&mut attr, 32, log.as_mut_ptr() as u64);
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => {
            drop(Fd(fd));
            Ok(())
        }
        Err(error) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            // The reason is the last line before the statistics.
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty() && !l.starts_with("processed "))
                .unwrap_or("");
            Err(format!("{error}: {last}"))
        }
    }
}

/// Why the kernel's verifier cannot be used here, if it cannot.
fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(String::from(
            "not root (the cross-check needs CAP_BPF and CAP_PERFMON)",
        ));
    }
    let trivial = [0xb7u8, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    load(&trivial)
        .err()
        .map(|e| format!("bpf(2) refuses even `mov r0, 0; exit`: {e}"))
}

#[test]
fn corpus_labels_match_the_linux_verifier() {
    if let Some(why) = unavailable() {
        println!("skipped: {why}");
        return;
    }
    let cases = corpus::load_all();
    let mut mismatches = Vec::new();
    let (mut same, mut differ, mut skipped) = (0, 0, 0);
    for case in &cases {
        let expected_linux_accepts = match &case.linux {
            Linux::Skip(_) => {
                skipped += 1;
                continue;
            }
            Linux::Same => case.verdict == Verdict::Accept,
            Linux::Differs { accepts, .. } => {
                assert_ne!(
                    *accepts,
                    case.verdict == Verdict::Accept,
                    "{}: a `linux:` difference must name the opposite verdict",
                    case.name
                );
                *accepts
            }
        };
        let maps: Vec<Fd> = (0..case.maps.len())
            .map(|i| create_map(case, i).unwrap())
            .collect();
        let fds: Vec<u64> = maps.iter().map(|fd| fd.0 as u64).collect();
        let code = case.assemble(&|i| fds[i]).unwrap();
        let result = load(&code);
        if result.is_ok() != expected_linux_accepts {
            mismatches.push(format!(
                "{}: expected Linux to {}, it {}",
                case.name,
                if expected_linux_accepts {
                    "accept"
                } else {
                    "reject"
                },
                match &result {
                    Ok(()) => String::from("accepted"),
                    Err(log) => format!("rejected: {log}"),
                }
            ));
        } else if matches!(case.linux, Linux::Same) {
            same += 1;
        } else {
            differ += 1;
        }
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "linux cross-check (kernel {}): {same} programs agree, {differ} differ as labelled, \
         {skipped} skipped",
        release.trim()
    );
    assert!(
        mismatches.is_empty(),
        "{} programs:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
