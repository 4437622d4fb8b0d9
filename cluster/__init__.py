"""Dask cluster profiles sized on demand across providers, and the cost of every job.

No pywps or flask here: the job engine calls :mod:`cluster.profiles`, :mod:`cluster.sizing`,
:mod:`cluster.lifecycle`, :mod:`cluster.cost` and :mod:`cluster.estimate` directly. Importing this
package starts nothing.
"""
