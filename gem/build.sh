#!/usr/bin/env bash
# gem/build.sh [OUTDIR] - builds dumper-VERSION.gem: stages gem/ and ext/dumper/ with a copy of
# libdumper's sources (include/, lib/, cli/, CMakeLists.txt for the version) under
# ext/dumper/libdumper/, then runs `gem build`. Prints the path of the .gem.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$root/build/gem}
mkdir -p "$out"
stage=$(mktemp -d "${TMPDIR:-/tmp}/dumper-gem.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp -r "$here/lib" "$here/dumper.gemspec" "$stage/"
cp "$here/README.md" "$stage/" 2>/dev/null || true
mkdir -p "$stage/ext/dumper/libdumper"
cp "$root/ext/dumper/extconf.rb" "$root/ext/dumper/dumper_ext.c" "$stage/ext/dumper/"
cp -r "$root/include" "$root/lib" "$root/cli" "$stage/ext/dumper/libdumper/"
cp "$root/CMakeLists.txt" "$stage/ext/dumper/libdumper/"
(cd "$stage" && gem build --quiet dumper.gemspec >/dev/null 2>"$stage/build.err") || { cat "$stage/build.err" >&2; exit 1; }
gemfile=$(ls "$stage"/dumper-*.gem)
mv -f "$gemfile" "$out/"
echo "$out/$(basename "$gemfile")"
