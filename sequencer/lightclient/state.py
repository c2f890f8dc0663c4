"""The light client's trusted state: the checkpoints it verified before, per log.

One implementation serves `attest verify` and the client library (`sequencer.client.light`):
the same file format, the same crash-safe write (tmp file, fsync, rename, fsync the directory).
"""

from __future__ import annotations

from sequencer.client.light import DEFAULT_STATE as DEFAULT_STATE
from sequencer.client.light import load_trusted as load_state
from sequencer.client.light import save_trusted as save_state
from sequencer.client.light import write_atomically as write_atomically

__all__ = ["DEFAULT_STATE", "load_state", "save_state", "write_atomically"]
