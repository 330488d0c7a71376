//! Any bytes as a `trace` command line: the shell answers or reports an error, never panics.
//! Objects cannot be read (every `trace load` fails at the file), so the fuzzer explores the
//! parser, argument checks, filters and tracepoint toggling.
#![no_main]

use std::sync::{Mutex, OnceLock};

use axebpf_core::platform::host::HostPlatform;
use axebpf_core::shell::{Files, Shell};
use libfuzzer_sys::fuzz_target;

struct NoFiles;

impl Files for NoFiles {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        Err(format!("{path}: no files in the fuzzer"))
    }
}

fn shell() -> &'static Mutex<Shell<NoFiles>> {
    static SHELL: OnceLock<Mutex<Shell<NoFiles>>> = OnceLock::new();
    SHELL.get_or_init(|| {
        HostPlatform::install();
        Mutex::new(Shell::new(NoFiles))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data) {
        let mut out = String::new();
        let _ = shell().lock().unwrap().execute(line, &mut out);
    }
});
