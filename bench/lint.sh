#!/usr/bin/env bash
# Benchmark of `i3s-bundle lint` (issue 5 targets, 2 cores): linting all of the repository's
# bundles — the project sources (compiled in memory) and the reference zips — with shellcheck:
# first run (cold cache) <= 3 s; second run with unchanged inputs (result cache) <= 100 ms.
# Usage: bench/lint.sh   (uses $CARGO_TARGET_DIR or target/)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/i3s-bundle"
command -v shellcheck >/dev/null || { echo "shellcheck is not installed: the cold-run number would be meaningless" >&2; exit 2; }
inputs=(. tests/fixtures/hudsonalpha)
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
best() { local min=999999 t; for _ in 1 2 3; do t=$("$@"); if (( t < min )); then min=$t; fi; done; echo "$min"; }
cold() { local dir; dir=$(mktemp -d); ms "$bin" lint --cache-dir "$dir" "${inputs[@]}"; rm -rf "$dir"; }
warm_dir=$(mktemp -d)
"$bin" lint --cache-dir "$warm_dir" "${inputs[@]}" >/dev/null 2>&1 || true
warm() { ms "$bin" lint --cache-dir "$warm_dir" "${inputs[@]}"; }
nosc() { ms "$bin" lint --no-cache --no-shellcheck "${inputs[@]}"; }
findings=$({ "$bin" lint --no-cache --format json "${inputs[@]}" 2>/dev/null || true; } | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["findings"]))')
echo "inputs: ${inputs[*]} ($(ls tests/fixtures/hudsonalpha/*.zip | wc -l) zips + $(ls bundles-src/*.toml | wc -l) bundle sources), $findings findings"
echo "cold, with shellcheck (best of 3): $(best cold) ms   (target <= 3000)"
echo "warm, cached         (best of 3): $(best warm) ms   (target <= 100)"
echo "no cache, no shellcheck (best of 3): $(best nosc) ms"
if [ -x /usr/bin/time ]; then
  dir=$(mktemp -d)
  /usr/bin/time -f "cold CPU time (user+sys, incl. shellcheck): %U s + %S s; wall %e s; load: $(cut -d' ' -f1 /proc/loadavg)" \
    "$bin" lint --cache-dir "$dir" "${inputs[@]}" 2>&1 >/dev/null | tail -1
  rm -rf "$dir"
fi
rm -rf "$warm_dir"
