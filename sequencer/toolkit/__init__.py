"""The client commands (`attest submit`, `revoke`, `model`, `dataset`, `check`): thin command
lines over `sequencer.client`, with one table of exit codes (`common.py`)."""
