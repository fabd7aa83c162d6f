"""Benchmarks: ground truth for architectures."""
from nasgen.benchmarks.base import Benchmark
from nasgen.benchmarks.nb101 import NB101Benchmark
from nasgen.benchmarks.nb201 import NB201Benchmark
from nasgen.benchmarks.nb301 import NB301Benchmark

__all__ = ["Benchmark", "NB101Benchmark", "NB201Benchmark", "NB301Benchmark"]
