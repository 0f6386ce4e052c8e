// Host-only: function multi-versioning for the CPU kernels' hot loops.
#pragma once

// The libraries are compiled for the baseline instruction set, so that one
// build runs on every x86-64 machine; a function marked MEDGAN_VECTOR_CLONES
// also gets an AVX2 build that the dynamic loader selects where available.
#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__)
#define MEDGAN_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MEDGAN_VECTOR_CLONES
#endif
