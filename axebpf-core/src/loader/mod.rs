//! Parses eBPF ELF objects (clang -target bpf): programs by section, map definitions, relocations.
