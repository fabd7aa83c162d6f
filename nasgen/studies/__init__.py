"""Studies: runs that measure models instead of searching (predictor quality, generator abilities,
isomorphism checks, extrapolation, latent walks). ``nasgen run experiment=<study experiment>``
builds one from the ``study`` config group; :mod:`nasgen.studies.base` has the contract."""
