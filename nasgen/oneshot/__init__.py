"""One-shot NAS: weight-sharing supernets, their relaxations, bilevel training, selection rules
(magnitude, perturbation-based), DrNAS, and the supernet diagnostics of Wang (2021)."""
