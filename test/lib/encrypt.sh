# test/lib/encrypt.sh - helpers for the encryption end-to-end tests (agent_encrypt*.sh). Source after agent.sh.
#   leaks DIR MARKER      the files under DIR whose bytes, or whose zstd or gzip decompression, hold MARKER
#                         (a plaintext backup is compressed: a raw grep alone would not see it)
#   make_keys             $T/ops.key (dumper keygen) and $T/rec.key (age-keygen): OPS, REC their recipients
leaks() {
  local f n
  while IFS= read -r -d '' f; do
    n=$(grep -acF -- "$2" "$f" || true)
    [ "$n" = 0 ] && n=$(zstd -qdc -- "$f" 2>/dev/null | grep -acF -- "$2" || true)
    [ "$n" = 0 ] && n=$(gzip -qdc -- "$f" 2>/dev/null | grep -acF -- "$2" || true)
    [ "${n:-0}" = 0 ] || echo "$f"
  done < <(find "$1" -type f -print0)
}

make_keys() {
  OPS=$("$DUMPER" keygen --out "$T/ops.key" 2>/dev/null)
  age-keygen -o "$T/rec.key" 2>/dev/null
  REC=$(age-keygen -y "$T/rec.key")
  case "$OPS,$REC" in age1*,age1*) ;; *) fail "keygen: '$OPS' '$REC'" ;; esac
}
