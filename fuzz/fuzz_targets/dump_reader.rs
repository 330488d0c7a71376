//! Arbitrary bytes as a dump: the reader, the Perfetto writer (one output and split) and the CTF
//! writer must return errors or stop reasons, never panic, whatever the bytes.

#![no_main]

use axtrace_exporter::dump::DumpReader;
use axtrace_exporter::{ctf, perfetto};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, dump)) = data.split_first() else {
        return;
    };
    let Ok(reader) = DumpReader::open(dump) else {
        return;
    };
    let options = perfetto::Options {
        guest_slices: choice & 1 != 0,
        split: match choice >> 1 & 3 {
            0 => perfetto::Split::None,
            1 => perfetto::Split::Vm,
            _ => perfetto::Split::Window(1 + u64::from(choice >> 3) * 1_000),
        },
        counter_window_ns: 1 + u64::from(choice) * 97,
    };
    let _ = perfetto::convert_split(reader, options, |_| Ok(std::io::sink()), |_| {});
    if let Ok(reader) = DumpReader::open(dump) {
        let _ = ctf::convert_to(reader, |_| Ok(std::io::sink()));
    }
});
