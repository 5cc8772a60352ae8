#!/usr/bin/env bash
# The kernels under AddressSanitizer + UndefinedBehaviorSanitizer (gcc, Linux): builds a sanitized copy of this
# checkout in a temporary directory (the checkout's own build is left alone), then runs the kernel tests at 1, 2
# and 3 threads and a randomized shape sweep (tools/shape_sweep.py) with the sanitizer runtimes preloaded. Any
# report aborts the run. Slow (a build of ~3 minutes, then ~5 minutes of tests on 2 cores): not part of CI.
#   bash tools/sanitize.sh                      the default test files and 3 sweep seeds
#   bash tools/sanitize.sh tests/test_norm.py   these test files instead (pytest arguments)
#   KEEP=/tmp/fastnn-asan bash tools/sanitize.sh   build there and keep it (reruns only recompile what changed)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${KEEP:-$(mktemp -d)}"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
(cd "$here" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - ) | tar -xf - -C "$work"
cd "$work"
# Built recoverable but run halting at the first report (the *_OPTIONS below): the recoverable build is the code
# generation under which gcc 12 miscompiled an implicit 8-to-16-bit mask widening in infer_tmpl.h (review 11).
CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fsanitize-recover=address,undefined -O1 -g" \
LDFLAGS="-fsanitize=address,undefined" FASTNN_DEBUG=1 python setup.py -q build_ext --inplace -j 2 >build.log 2>&1 \
    || { tail -30 build.log; exit 1; }
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1 PYTHONMALLOC=malloc
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
export PYTHONPATH="$work" FASTNN_TEST_THREADS=1,2,3
if [ $# -eq 0 ]; then
    set -- tests/test_kernels_*.py tests/test_kernel_contract.py tests/test_fused_step.py tests/test_inference.py \
        tests/test_fuzz_plan.py tests/test_concurrency.py tests/test_determinism.py tests/test_dropout.py \
        tests/test_norm.py tests/test_augment.py tests/test_optim.py tests/test_nonfinite.py tests/test_bad_inputs.py \
        tests/test_training_chain.py
    sweep=1
fi
python -m pytest -q -x -p no:cacheprovider "$@"
if [ "${sweep:-0}" = 1 ]; then
    for seed in 1 2 3; do python tools/shape_sweep.py --seed "$seed" --iters 100; done
fi
echo "sanitize: no AddressSanitizer or UndefinedBehaviorSanitizer report"
