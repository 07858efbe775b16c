"""Monte Carlo flight campaigns: dispersion files, runs reproducible from (scenario,
dispersion, run index), a local process pool or a Dask cluster, results in SQLite
(statistics and report: ``ground.campaign``)."""
