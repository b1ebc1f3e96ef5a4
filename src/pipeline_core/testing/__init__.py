"""Test support shipped with the library, for this project's tests and for third parties.

- :mod:`pipeline_core.testing.strategies`: hypothesis strategies that build valid records.
- :mod:`pipeline_core.testing.storage_contract`: the one contract suite every storage adapter passes.

These modules import ``hypothesis`` and ``pytest``: install them with the ``testing`` extra
(``pip install 'pipeline-core[testing]'``).
"""
