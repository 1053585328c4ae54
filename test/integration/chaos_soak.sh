#!/usr/bin/env bash
# chaos_soak.sh - the short run of bench/chaos_soak.py (issue 12): 40 s of chaos (agents SIGTERMed, SIGKILLed
# and replaced, the primary and running jobs killed, dumperd restarted) on a fast test clock with a
# per-minute schedule, then the invariants: every slot exactly once with one good, verified backup, nothing
# partial left, no takeover before the previous lease ended. The hour-long run and its figures: bench/README.md.
. "$(dirname "$0")/../lib/common.sh"
seed=${DUMPER_SOAK_SEED:-$(date +%s)}
note "seed $seed (DUMPER_SOAK_SEED=$seed replays the same chaos choices)"
DUMPER_BIN=$DUMPER_BIN python3 "$DUMPER_SRC/bench/chaos_soak.py" --seconds 40 --agents 3 --seed "$seed" >"$T/soak.out" 2>&1 ||
  fail "chaos soak: $(cat "$T/soak.out")"
grep -q "violations=0" "$T/soak.out" || fail "no summary: $(cat "$T/soak.out")"
note "$(grep '^chaos_soak' "$T/soak.out")"
