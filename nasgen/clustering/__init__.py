"""Correlation clustering (multicut) on signed graphs: instances, exact solvers (Benders decomposition with
Magnanti-Wong rows, the cycle-inequality cutting plane, brute force) and clustering metrics (thesis ch. 8)."""
