"""How nestmix runs on a machine, below everything that models or samples: atomic file writes
(:mod:`~nestmix.runtime.atomic`), the backend switches read from the environment
(:mod:`~nestmix.runtime.backend`), each run's share of the cores
(:mod:`~nestmix.runtime.threads`, from the busy cores :mod:`~nestmix.runtime.cpuload` sees),
other processes (:mod:`~nestmix.runtime.processes`), live progress files
(:mod:`~nestmix.runtime.progress`) and a worker's lifeline to its parent
(:mod:`~nestmix.runtime.lifeline`).

Nothing here imports another nestmix package but :mod:`nestmix.errors`; the package's
``__init__`` imports nothing, so each module costs only its own imports.
"""
