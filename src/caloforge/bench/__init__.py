"""Speed: timing, FLOP counting and the machine's measured limits, and the benchmark harness."""

from caloforge.bench.flops import flops_per_sample
from caloforge.bench.hardware import copy_bandwidth, matmul_flops
from caloforge.bench.timing import Timing, time_call

__all__ = ["Timing", "copy_bandwidth", "flops_per_sample", "matmul_flops", "time_call"]
