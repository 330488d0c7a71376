//! Any bytes given to the ELF loader: `Ok` or a `LoadError`, never a panic, and a parsed
//! object's programs relocate and report their calls without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut object) = axebpf_core::loader::parse(data) {
        let maps = object.maps.len() as u64;
        for program in &mut object.programs {
            program.relocate_maps(|index| index as u64 + maps);
            let _ = program.helper_calls().count();
            let _ = program.local_calls().count();
        }
    }
});
