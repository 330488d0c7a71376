//! Host-side conversion of axtrace dumps: the dump reader, and (as their issues land) the
//! Perfetto writer, HDR latency histograms, the CTF writer and the report model behind
//! `axtrace-report`.
//!
//! [`dump`] reads what the drain wrote ([`axebpf_core::dump`]): chunk by chunk, up to the last
//! whole chunk of a cut or damaged dump, saying where and why it stopped. [`hist`] holds exit
//! latencies as HDR histograms; [`report`] groups them into `axtrace-report`'s tables, diffs,
//! plots and HdrHistogram files.

pub mod ctf;
pub mod dump;
pub mod hist;
pub mod perfetto;
pub mod report;
