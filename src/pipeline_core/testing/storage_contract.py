"""The one contract suite every storage adapter passes: in-memory, SQLite, PostgreSQL, and yours.

Install the ``testing`` extra (``pip install 'pipeline-core[testing]'``: pytest and
hypothesis), subclass :class:`StoreContract` in a test module whose name pytest collects and give
it a ``store`` fixture that yields a fresh, empty store (and cleans up afterwards)::

    import pytest

    from pipeline_core.storage import InMemoryStore
    from pipeline_core.testing.storage_contract import StoreContract


    class TestMyStore(StoreContract):
        allows_nul = True  # False if the backend cannot store "\\x00" in text

        @pytest.fixture
        def store(self):
            s = InMemoryStore()  # your store here: fresh and empty for every test
            yield s
            s.close()

A database adapter should also override :meth:`StoreContract.connect` to open a second
connection to the same data, so that the race tests run over two connections.

Every test uses only the public port (:mod:`pipeline_core.storage.ports`), so a store that passes
behaves like the built-in ones: optimistic concurrency (two writers of one version: exactly one
wins, from two threads), idempotent append-only logs, all-or-nothing units of work and bulk writes,
and the same answers, in the same order, to every query.
"""

from __future__ import annotations

from pipeline_core.testing._contract_data import T0, make_opportunity
from pipeline_core.testing._contract_reads import ReadsContract
from pipeline_core.testing._contract_writes import WritesContract

__all__ = ["T0", "StoreContract", "make_opportunity"]


class StoreContract(WritesContract, ReadsContract):
    """The storage contract. Subclass it with a ``store`` fixture yielding a fresh empty store.

    Set ``allows_nul`` and override ``connect`` as the module docstring says. The tests come from
    :class:`~pipeline_core.testing._contract_writes.WritesContract` and
    :class:`~pipeline_core.testing._contract_reads.ReadsContract`."""
