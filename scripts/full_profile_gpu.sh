#!/usr/bin/env bash
# The full-profile results of the three experiment chapters, as one prepared call on a GPU machine.
#
#   GANAD_DATA=<datasets folder> OUT=<output folder> BUDGET=540 bash scripts/full_profile_gpu.sh
#
# Runs cheapest first, each step limited to what is left of BUDGET seconds: MVTec AD (every category under
# the data root, the profile's sizes and seeds), CIFAR-10 (every normal class the data hold, the profile's
# seeds), MNIST seed 0 (the headline), then MNIST with all the profile's seeds (seed 0 from the run cache).
# Results: $OUT/results/<profile>/<experiment>/ (copy to results/<profile>/ and commit); logs: $OUT/logs/.
# A step cut short by the budget writes no results (its finished runs stay in the run cache for a rerun).
# PROFILE=smoke makes a seconds-long dry run of the same steps on any machine.
set -uo pipefail

OUT=${OUT:?set OUT to the output folder}
BUDGET=${BUDGET:-540}
PROFILE=${PROFILE:-full}
export GANAD_RUNS=${GANAD_RUNS:-${TMPDIR:-/tmp}/ganad_runs_$PROFILE}  # checkpoints: kept out of $OUT
mkdir -p "$OUT/logs" "$OUT/results"
start=$SECONDS

python - <<'PY' | tee "$OUT/logs/machine.txt"
import torch
from ganad_lite import hardware_info
print(hardware_info()["summary"], "| torch", torch.__version__, "| CUDA", torch.version.cuda)
PY

step() {  # step <name> <reproduce arguments...>
    local name=$1; shift
    local left=$((BUDGET - (SECONDS - start)))
    if ((left < 20)); then echo "$name: skipped, budget spent" | tee -a "$OUT/logs/steps.txt"; return; fi
    local t0=$SECONDS
    timeout --signal=INT --kill-after=15 "$left" \
        python -m ganad_lite reproduce --profile "$PROFILE" --out "$OUT/results" --quiet "$@" \
        > "$OUT/logs/$name.log" 2>&1
    local rc=$?
    echo "$name: exit $rc after $((SECONDS - t0)) s; $(tail -n 1 "$OUT/logs/$name.log")" | tee -a "$OUT/logs/steps.txt"
}

step mvtec --experiment mvtec
step cifar10 --experiment cifar10
step mnist_seed0 --experiment mnist --seeds 0
rm -rf "$OUT/results/$PROFILE/mnist_seed0"
cp -r "$OUT/results/$PROFILE/mnist" "$OUT/results/$PROFILE/mnist_seed0" 2>/dev/null
step mnist --experiment mnist
echo "total $((SECONDS - start)) s of a $BUDGET s budget" | tee -a "$OUT/logs/steps.txt"
