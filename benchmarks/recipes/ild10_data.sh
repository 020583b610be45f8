#!/usr/bin/env bash
# Reference data of the ild-ecal benchmark (bench_ild.py), cascade transport 10: 2 000 training
# and 1 000 independent reference photons, incident energy uniform in 10-100 GeV, simulated side
# by side, one worker each (~10 min on 2 quiet cores). The files behind ild_t10-rank.md were
# made with these settings by a script that was not kept; their seeds were not recorded, so
# these seeds give statistically equivalent files, not the same ones.
set -euo pipefail
out=${1:-benchmarks/data}
mkdir -p "$out"
sim() {  # n, seed, file
  [ -e "$out/$3" ] && { echo "$out/$3 exists"; return; }
  NUMBA_NUM_THREADS=1 caloforge simulate -g ild-ecal --particle photon --energy-range 10GeV:100GeV \
    -n "$1" --seed "$2" --workers 1 --no-progress -o "$out/$3"
}
sim 2000 21 ild10_10-100GeV_train_2k.h5 &
sim 1000 22 ild10_10-100GeV_ref_1k.h5 &
wait
