//! End-to-end tests of the axtrace pipeline, in `tests/`: each drives the real parts together
//! (rings, and as later issues land, KVM guests, the drain, the dump and the exporters) and
//! checks what comes out.
