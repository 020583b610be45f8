#!/usr/bin/env bash
# Reference data of the clic-ecal (gan3d) benchmark, cascade transport 10: 6 000 training and
# 6 000 independent reference electrons, 1 000 at each of 10, 20, 30, 50, 70, 100 GeV.
# Both files are simulated side by side, one worker each (~45 min on 2 quiet cores).
set -euo pipefail
out=${1:-benchmarks/data}
mkdir -p "$out"
energies=10GeV,20GeV,30GeV,50GeV,70GeV,100GeV
sim() {  # seed, file
  [ -e "$out/$2" ] && { echo "$out/$2 exists"; return; }
  NUMBA_NUM_THREADS=1 caloforge simulate -g clic-ecal --particle electron --energies "$energies" \
    -n 6000 --seed "$1" --workers 1 --no-progress -o "$out/$2"
}
sim 15 clic10_train_6k.h5 &
sim 16 clic10_ref_6k.h5 &
wait
