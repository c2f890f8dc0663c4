"""The development accounts of the well-known anvil/Hardhat mnemonic.

Every local Ethereum node (anvil, Hardhat, and the embedded devnet in
`l1_contracts.devnet_node`) funds the same ten accounts, derived from the public mnemonic
``test test test test test test test test test test test junk`` along the BIP-44 path
``m/44'/60'/0'/0/i``. Their private keys are public knowledge: never use them on a real chain.

By convention in this project account 0 is the sequencer and account 1 a validator.

The keys are cached as constants because BIP-32 derivation through eth-account takes tens of
milliseconds per key; `derive_dev_keys` re-derives them and a test checks both agree.
"""

from __future__ import annotations

from typing import Final

from eth_account import Account
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

DEV_MNEMONIC: Final = "test test test test test test test test test test test junk"
"""The public anvil/Hardhat development mnemonic."""

DEV_HD_PATH_PREFIX: Final = "m/44'/60'/0'/0"
"""BIP-44 Ethereum path; account ``i`` is ``f"{DEV_HD_PATH_PREFIX}/{i}"``."""

DEV_ACCOUNT_COUNT: Final = 10

# Derived once with `derive_dev_keys()`; tests/l1_contracts/test_devnet_node.py re-derives them.
DEV_KEYS: Final[tuple[bytes, ...]] = tuple(
    bytes.fromhex(h)
    for h in (
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
        "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
        "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
        "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
        "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
        "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
        "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
    )
)
"""32-byte private keys of the ten development accounts, in derivation order."""

DEV_ADDRESSES: Final[tuple[ChecksumAddress, ...]] = tuple(
    to_checksum_address(a)
    for a in (
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
        "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
        "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
        "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
        "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
    )
)
"""Checksummed addresses of `DEV_KEYS`, same order."""

SEQUENCER_INDEX: Final = 0
VALIDATOR_INDEX: Final = 1

SEQUENCER_KEY: Final = DEV_KEYS[SEQUENCER_INDEX]
SEQUENCER_ADDRESS: Final = DEV_ADDRESSES[SEQUENCER_INDEX]
VALIDATOR_KEY: Final = DEV_KEYS[VALIDATOR_INDEX]
VALIDATOR_ADDRESS: Final = DEV_ADDRESSES[VALIDATOR_INDEX]


def derive_dev_keys(
    count: int = DEV_ACCOUNT_COUNT, mnemonic: str = DEV_MNEMONIC
) -> list[tuple[bytes, ChecksumAddress]]:
    """Derive ``(private_key, address)`` for accounts ``0..count-1`` of `mnemonic` (slow)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    Account.enable_unaudited_hdwallet_features()
    out: list[tuple[bytes, ChecksumAddress]] = []
    for i in range(count):
        acct = Account.from_mnemonic(mnemonic, account_path=f"{DEV_HD_PATH_PREFIX}/{i}")
        out.append((bytes(acct.key), to_checksum_address(acct.address)))
    return out
