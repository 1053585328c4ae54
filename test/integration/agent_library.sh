#!/usr/bin/env bash
# agent_library.sh - what a host process loads stays small (docs/architecture.md, "Libraries"):
#   - libdumper-agent.so needs only libcurl, cJSON and libc, and neither it nor the example host
#     (which links the static agent library) loads a database client library or libarchive;
#   - libdumper-agent.so and the whole libdumper.so export exactly the functions dumper.h declares;
#   - a C program built against libdumper-agent.a with only libcurl and cJSON links and runs the
#     agent API (what the gem's extension does); so does one built against libdumper-agent.so
#     through dumper-agent.pc.
. "$DUMPER_SRC/test/lib/common.sh"
B=${DUMPER_BUILD:-$DUMPER_SRC/build}
AGENT_SO="$B/lib/libdumper-agent.so" FULL_SO="$B/lib/libdumper.so" AGENT_A="$B/lib/libdumper-agent.a"
for f in "$AGENT_SO" "$FULL_SO" "$AGENT_A" "$DUMPER_BIN/dumper-example-host"; do
  [ -e "$f" ] || fail "missing build output $f"
done
ENGINE_LIBS='libpq|libmariadb|libmysqlclient|libmongoc|libbson|libmongocrypt|libhiredis|libsqlite3|libarchive'

# 1. dependencies: direct (NEEDED) and everything the loader maps
readelf -d "$AGENT_SO" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort >"$T/needed"
printf '%s\n' libc.so.6 libcjson.so.1 libcurl.so.4 >"$T/allowed"
extra=$(comm -23 "$T/needed" "$T/allowed" | grep -v '^libasan\|^libubsan\|^libm\.so\|^libpthread' || true)
[ -z "$extra" ] || fail "libdumper-agent.so needs more than libcurl, cJSON and libc: $extra"
grep -qx libcurl.so.4 "$T/needed" || fail "libdumper-agent.so does not link libcurl (the check reads the wrong file?)"
for bin in "$AGENT_SO" "$DUMPER_BIN/dumper-example-host"; do
  ldd "$bin" >"$T/ldd"
  if grep -E "$ENGINE_LIBS" "$T/ldd" >"$T/bad"; then
    cat "$T/bad" >&2
    fail "$(basename "$bin") loads engine libraries"
  fi
done
# the full library does load them: the check above can fail
ldd "$FULL_SO" >"$T/ldd.full"
grep -qE "libpq|libmongoc" "$T/ldd.full" || fail "libdumper.so without the engine's libraries? (ldd check broken)"

# 2. exports: exactly dumper.h's functions (compiler-reserved names starting with '_' aside)
sed -n 's/^DUMPER_EXTERN [^(]*[ *]\(dumper_[a-z_]*\)(.*/\1/p' "$DUMPER_SRC/include/dumper.h" | sort >"$T/api"
[ "$(wc -l <"$T/api")" -ge 6 ] || fail "could not read the API from dumper.h"
for so in "$AGENT_SO" "$FULL_SO"; do
  nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^_' | sort >"$T/exports"
  diff "$T/api" "$T/exports" >&2 || fail "$(basename "$so") exports differ from dumper.h"
done

# 3. a host linked against the static agent library with libcurl and cJSON only
cat >"$T/host.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "dumper.h"
int main(void)
{
    dumper_agent_opts o = DUMPER_AGENT_OPTS_INIT;
    o.log_file = "/dev/null";
    dumper_database db = {.url = "nope://x/y"};
    o.app_key = "dk_x";
    o.databases = &db;
    o.ndatabases = 1;
    int bad = dumper_agent_start(&o); /* refused: unknown scheme */
    db.url = "postgres://app@db/app";
    o.api_base = "http://127.0.0.1:1";
    int ok = dumper_agent_start(&o); /* accepted without any database driver */
    int stopped = dumper_agent_stop();
    printf("%s %d %d %d\n", dumper_version(), bad, ok, stopped);
    return 0;
}
C
san=()
nm "$AGENT_A" >"$T/nm" 2>/dev/null || true
grep -q __asan_ "$T/nm" && san=(-fsanitize=address,undefined)
cc -std=c11 "${san[@]}" -I"$DUMPER_SRC/include" "$T/host.c" "$AGENT_A" $(pkg-config --libs libcurl libcjson) -pthread \
  -o "$T/host" 2>"$T/cc.err" || { cat "$T/cc.err" >&2; fail "a host does not link with libdumper-agent.a, libcurl and cJSON alone"; }
out=$("$T/host")
[ "$out" = "$("$DUMPER" --version | awk '{print $2}') 2 0 0" ] || fail "the linked host printed '$out'"
# the shared library through the pkg-config file (its prefix is where it would be installed: here)
mkdir -p "$T/pc/lib/pkgconfig" "$T/pc/include"
cp "$B/dumper-agent.pc" "$T/pc/lib/pkgconfig/"
cp -P "$B"/lib/libdumper-agent.so* "$T/pc/lib/"
cp "$DUMPER_SRC/include/dumper.h" "$T/pc/include/"
flags=$(PKG_CONFIG_PATH="$T/pc/lib/pkgconfig" pkg-config --cflags --libs dumper-agent)
sflags=$(PKG_CONFIG_PATH="$T/pc/lib/pkgconfig" pkg-config --libs --static dumper-agent)
case " $flags " in *" -ldumper-agent "*) ;; *) fail "dumper-agent.pc: no -ldumper-agent in '$flags'" ;; esac
case "$flags $sflags" in *-lpq* | *-lmongoc* | *-lhiredis* | *-lsqlite3* | *-larchive*) fail "dumper-agent.pc pulls engine libraries: $sflags" ;; esac
case " $sflags " in *" -lcurl "*" -lcjson "*) ;; *) fail "dumper-agent.pc: a static link lacks libcurl and cJSON: $sflags" ;; esac
cc -std=c11 "${san[@]}" "$T/host.c" $flags -Wl,-rpath,"$T/pc/lib" -o "$T/host2" 2>"$T/cc.err" ||
  { cat "$T/cc.err" >&2; fail "linking through dumper-agent.pc"; }
ldd "$T/host2" >"$T/ldd.host2"
grep -q "$T/pc/lib/libdumper-agent.so" "$T/ldd.host2" || fail "host2 does not use the shared agent library"
[ "$("$T/host2")" = "$out" ] || fail "the host linked through dumper-agent.pc differs"
note "ok: libdumper-agent needs libcurl, cJSON, libc; exports = dumper.h; a host links with the agent library alone"
