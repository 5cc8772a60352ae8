/* One SIMD scheme for every kernel family: one ISA ladder, two ways to pick a rung, one fp-contract policy.
 *
 * ISA ladder (x86-64 with GCC or clang, including clang-cl on Windows; elsewhere everything builds once, portable):
 *   level 0  baseline x86-64 (SSE2)          what a distributed wheel may assume
 *   level 1  x86-64-v3 (AVX2, FMA, BMI2)     FNN_TARGET_V3
 *   level 2  x86-64-v4 (AVX-512 F/BW/CD/DQ/VL) FNN_TARGET_V4
 * No -march=native: a wheel must run anywhere, so hot functions are built for every rung.
 *
 * Picking the rung:
 *   FNN_CLONES          GCC function multiversioning (target_clones over the ladder): the loader picks the best
 *                       rung once (ifunc). For the elementwise and reduction workers of dense, loss, norm, optim
 *                       and dropout. Put it on functions without OpenMP regions (call them from the parallel loop).
 *   FNN_SIMD_VARIANTS   the same body built once per rung with the rung as a compile-time constant, and a
 *                       selector that returns the CPU's best rung capped by fnn_simd_set_cap() (augment: its tests
 *                       compare every rung bit for bit, and a body picks its loops from the level). Its targets
 *                       add a tuning for CPUs with fast gathers (GCC's generic tuning emulates gathers with scalar
 *                       loads; the hardware gather is about twice as fast for the warp's four taps, measured in
 *                       bench/RESULTS.md) and 512-bit vectors.
 *
 * fp-contract policy. Rungs 1 and 2 have FMA units; contracting a * b + c into one rounding changes results.
 *   - Families whose numpy reference reproduces them bit for bit, or whose results must not depend on the rung
 *     (augment, optim), are compiled with -ffp-contract=off: setup.py's BITWISE_FAMILIES adds the flag and
 *     defines FNN_FP_CONTRACT_OFF, and their sources refuse to build without it (FNN_REQUIRE_FP_CONTRACT_OFF).
 *   - The others (dense, loss, norm; dropout is integer arithmetic) allow contraction: results can differ
 *     between CPUs in the last bits, never between runs or thread counts on one machine; their tests compare
 *     to the references with a tolerance.
 */
#ifndef FNN_SIMD_H
#define FNN_SIMD_H

/* Force-inlined helpers: GCC does not inline a plain function into a clone built for another target (different
 * target options), and a call per element would cost more than the element. */
#define FNN_INLINE inline __attribute__((always_inline))

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && !defined(FNN_NO_CLONES)
#define FNN_CLONES __attribute__((noinline, target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define FNN_CLONES
#endif

/* clang-cl (Windows) is clang without __GNUC__: it compiles the same vector extensions and target attributes. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FNN_X86_DISPATCH 1
#if defined(__clang__)
#define FNN_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
#define FNN_TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#else
#define FNN_TARGET_V3 __attribute__((target("arch=x86-64-v3,tune=haswell")))
#define FNN_TARGET_V4 __attribute__((target("arch=x86-64-v4,tune=icelake-server,prefer-vector-width=512")))
#endif
#else
#define FNN_X86_DISPATCH 0
#endif

/* The best rung this CPU runs (0, 1, 2), and the cap FNN_SIMD_VARIANTS selectors obey (tests, benchmarks).
 * Defined in the family's .c that includes this header with FNN_SIMD_DEFINE_LEVEL. */
int fnn_simd_available(void);
void fnn_simd_set_cap(int max_level);
int fnn_simd_level(void);

#define FNN_SIMD_DEFINE_LEVEL                                                                                          \
    static int fnn_simd_cap_ = 2;                                                                                      \
    void fnn_simd_set_cap(int max_level) {                                                                             \
        fnn_simd_cap_ = max_level < 0 ? 0 : max_level;                                                                 \
    }                                                                                                                  \
    int fnn_simd_available(void) {                                                                                     \
        return fnn_simd_probe_();                                                                                      \
    }                                                                                                                  \
    int fnn_simd_level(void) {                                                                                         \
        const int best = fnn_simd_available();                                                                         \
        return best < fnn_simd_cap_ ? best : fnn_simd_cap_;                                                            \
    }

#if FNN_X86_DISPATCH && defined(_MSC_VER)
/* Windows (clang-cl): __builtin_cpu_supports reads compiler-rt's __cpu_model, which an MSVC link does not carry.
 * Ask the CPU (cpuid) and the OS (xgetbv: which register states it saves on a context switch) directly, for the
 * same features as below. */
#include <intrin.h>
static inline int fnn_simd_probe_(void) {
    int r[4];
    __cpuid(r, 0);
    if (r[0] < 7) return 0;
    __cpuid(r, 1);
    const int fma = r[2] >> 12 & 1, osxsave = r[2] >> 27 & 1, avx = r[2] >> 28 & 1;
    if (!osxsave || !avx) return 0;
    const unsigned long long xcr0 = _xgetbv(0);
    if ((xcr0 & 0x6) != 0x6) return 0; /* XMM and YMM state */
    __cpuidex(r, 7, 0);
    const unsigned ebx = (unsigned)r[1];
    const int avx2 = ebx >> 5 & 1, bmi2 = ebx >> 8 & 1;
    if (!(avx2 && fma && bmi2)) return 0;
    /* AVX-512 F (16), DQ (17), CD (28), BW (30), VL (31), and the opmask and ZMM states saved */
    const unsigned avx512 = 1u << 16 | 1u << 17 | 1u << 28 | 1u << 30 | 1u << 31;
    return (ebx & avx512) == avx512 && (xcr0 & 0xE6) == 0xE6 ? 2 : 1;
}
#elif FNN_X86_DISPATCH
static inline int fnn_simd_probe_(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return 2;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2") ? 1 : 0;
}
#endif
#if FNN_X86_DISPATCH
/* BASE_generic, BASE_v3 and BASE_v4 (with the template's SFX suffix) run CALL(level) with level 0, 1, 2 as a
 * constant, and BASE_for_cpu() returns the one this CPU runs under the cap (FN_T: their pointer type). */
#define FNN_SIMD_VARIANTS(FN_T, BASE, PARAMS, CALL)                                                                    \
    static void SFX(BASE##_generic) PARAMS {                                                                           \
        CALL(0);                                                                                                       \
    }                                                                                                                  \
    FNN_TARGET_V3 static void SFX(BASE##_v3) PARAMS {                                                                  \
        CALL(1);                                                                                                       \
    }                                                                                                                  \
    FNN_TARGET_V4 static void SFX(BASE##_v4) PARAMS {                                                                  \
        CALL(2);                                                                                                       \
    }                                                                                                                  \
    static FN_T SFX(BASE##_for_cpu)(void) {                                                                            \
        switch (fnn_simd_level()) {                                                                                    \
        case 2:                                                                                                        \
            return SFX(BASE##_v4);                                                                                     \
        case 1:                                                                                                        \
            return SFX(BASE##_v3);                                                                                     \
        default:                                                                                                       \
            return SFX(BASE##_generic);                                                                                \
        }                                                                                                              \
    }
#else
static inline int fnn_simd_probe_(void) {
    return 0;
}
#define FNN_SIMD_VARIANTS(FN_T, BASE, PARAMS, CALL)                                                                    \
    static void SFX(BASE##_generic) PARAMS {                                                                           \
        CALL(0);                                                                                                       \
    }                                                                                                                  \
    static FN_T SFX(BASE##_for_cpu)(void) {                                                                            \
        return SFX(BASE##_generic);                                                                                    \
    }
#endif

/* In a bitwise family's .c: fail the build if the fp-contract policy above is not in force. */
#if defined(FNN_REQUIRE_FP_CONTRACT_OFF) && !defined(FNN_FP_CONTRACT_OFF)
#error "this kernel family is compared bit for bit: build it with -ffp-contract=off (setup.py BITWISE_FAMILIES)"
#endif

#endif
