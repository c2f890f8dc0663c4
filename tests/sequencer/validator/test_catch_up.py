"""A late validator catches up with a real sequencer more than one batch of blocks ahead.

The sequencer answers at most `MAX_FULL_BLOCKS_PER_BATCH` full blocks per JSON-RPC body
(issue 12) and refuses the whole body beyond it; a replica that asks for more in one pull is
refused on every pull once it is that far behind, and never catches up (issue 11). One pull
takes up to `PULL_RANGES` such batches, one after the other (pipelined), none above the cap.
"""

from __future__ import annotations

from pathlib import Path

import trio

from bench.bench_ingest import unsigned_bodies
from bench.bench_validator import fill, new_replica, wait_sealed
from sequencer.devnet.process import SequencerProcess
from sequencer.rpc.client import RpcClient
from sequencer.rpc.methods import MAX_FULL_BLOCKS_PER_BATCH
from sequencer.validator.upstream import PULL_RANGES, UpstreamPool, pull
from state_db.store import Store


def test_late_replica_catches_up_past_the_batch_cap(tmp_path: Path) -> None:
    with SequencerProcess(tmp_path / "sequencer") as proc, RpcClient(proc.url) as rpc:
        n = fill(proc.url, unsigned_bodies(6, 1000), token=True)
        wait_sealed(proc.url, n)
        store = Store.open(tmp_path / "replica")
        replica = new_replica(store, proc.url)
        try:
            # Verify the sequencer really is more than one batch of blocks ahead.
            assert rpc.call("attest_status")["latestBlock"]["number"] + 1 > (
                MAX_FULL_BLOCKS_PER_BATCH
            )

            async def catch_up() -> int:
                pool = UpstreamPool([proc.url])
                pulls = 0
                try:
                    while replica.size < n:
                        taken = await pull(replica, pool)  # the default batch, as the validator
                        assert 0 < taken <= PULL_RANGES * MAX_FULL_BLOCKS_PER_BATCH
                        pulls += 1
                finally:
                    await pool.aclose()
                return pulls

            assert trio.run(catch_up) >= 1
            assert replica.size == n and replica.violations == ()
            # Verify the replica's last block is the sequencer's, hash for hash.
            latest = rpc.call("attest_getBlock", "latest")
            mine = store.get_block(store.head.block_count - 1)
            assert (latest["number"], latest["blockHash"]) == (
                mine.number,
                "0x" + mine.block_hash.hex(),
            )
        finally:
            replica.close()
            store.close()
