#!/usr/bin/env bash
# gan3d on the clic-ecal electrons of clic10_data.sh (cascade transport 10): two seeds side by
# side (one thread each), then the evaluation against the independent reference with the
# training data as the floor. Usage: [SEEDS="0 1"] gan3d_clic10.sh WORK LABEL [train options...]
#   benchmarks/recipes/gan3d_clic10.sh benchmarks/data/runs/gan3d10 clic10-electrons
set -euo pipefail
work=$1; label=$2; shift 2
data=${DATA:-benchmarks/data}
seeds=${SEEDS:-0 1}
for seed in $seeds; do
  python benchmarks/bench_granular.py train --train "$data/clic10_train_6k.h5" --work "$work" \
    --seed "$seed" --steps 1000 --batch-size 16 --lr 1e-3 --lr-schedule cosine "$@" &
done
wait
python benchmarks/bench_granular.py evaluate --reference "$data/clic10_ref_6k.h5" \
  --floor "$data/clic10_train_6k.h5" --work "$work" --seeds $seeds --label "$label"
