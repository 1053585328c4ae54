#!/usr/bin/env bash
# bench/build_ref.sh REF DIR - the baseline of an old-vs-new benchmark: exports git REF's tree into
# DIR/src (git archive: no checkout, no worktree) and builds it as a release (RelWithDebInfo, no
# tests) in DIR/build. Reuses DIR when it already holds REF's commit. Prints DIR/src.
set -euo pipefail
ref=${1:?usage: bench/build_ref.sh REF DIR}
dir=${2:?usage: bench/build_ref.sh REF DIR}
cd "$(dirname "$0")/.."
commit=$(git rev-parse --verify "$ref^{commit}")
if [ "$(cat "$dir/commit" 2>/dev/null || true)" != "$commit" ] || [ ! -x "$dir/build/bin/dumper" ]; then
  rm -rf "$dir"
  mkdir -p "$dir/src"
  git archive "$commit" | tar -x -C "$dir/src"
  cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUMPER_BUILD_TESTS=OFF >"$dir/cmake.log" 2>&1
  cmake --build "$dir/build" -j"$(nproc)" >"$dir/build.log" 2>&1 || { tail -20 "$dir/build.log" >&2; exit 1; }
  echo "$commit" >"$dir/commit"
fi
echo "$dir/src"
