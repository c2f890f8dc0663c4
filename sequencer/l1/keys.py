"""Where the services' L1 keys come from, and `attest key new`.

* **An encrypted keystore** (Web3 Secret Storage, the JSON file geth, clef and eth-account
  write): ``--keystore PATH`` with the passphrase from ``--passphrase-file F`` or
  ``--passphrase-env VAR`` — never from argv, where `ps` shows it. This is the way for any
  chain that is not the devnet.
* **A plain key file** (0x-hex, ``--key-file``/``--sequencer-key-file``) or a hex key in an
  environment variable: for the devnet, whose keys are public anyway. Loaded anywhere else, the
  service logs a warning naming the file (never the key) once it knows L1's chain id.

Every error names the file or variable and what is wrong with it, never a key or passphrase:
a key is held only as `bytes` in a field that `repr` leaves out (`LoadedKey.key`), and the
exceptions eth-account raises while decrypting are replaced, not chained, so a traceback cannot
quote one.

eth-account is imported where it is used: `attest serve` adds these flags to its parser, and a
sequencer without L1 should not pay for the import at start-up.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from prover.errors import InvalidFieldError, InvalidInputError
from prover.wire import parse_hex
from sequencer.config import Resolved, read_key_file

log = logging.getLogger(__name__)

DEVNET_CHAIN_ID: Final = 31337
"""The devnet's chain id (anvil's, Hardhat's): the one chain where plain key files are fine."""

PUBLIC_DEV_KEY: Final = "the public dev key"
"""`LoadedKey.source` of a key nobody configured: anvil's account 0, known to everyone."""


class KeyLoadError(InvalidInputError):
    """A key could not be loaded. The message names the file or variable, never the key."""


@dataclass(frozen=True, slots=True)
class LoadedKey:
    """A private key and where it came from."""

    key: bytes = field(repr=False)
    """The 32-byte secp256k1 key. Left out of `repr`, so a logged object cannot leak it."""
    source: str
    """Where it came from, for messages: ``keystore PATH``, ``plain key file PATH`` ..."""
    encrypted: bool
    """True when it came from an encrypted keystore (or a signer that holds it)."""

    @property
    def address(self) -> str:
        from eth_account import Account

        return str(Account.from_key(self.key).address)


def read_passphrase(passphrase_file: str | None, passphrase_env: str | None, *, flag: str) -> str:
    """The passphrase from a file (its first line) or an environment variable."""
    if passphrase_file and passphrase_env:
        raise KeyLoadError(f"{flag}: give --passphrase-file or --passphrase-env, not both")
    if passphrase_file:
        try:
            text = Path(passphrase_file).read_text()
        except OSError as exc:
            raise KeyLoadError(
                f"{flag}: cannot read passphrase file {passphrase_file}: {exc.strerror}"
            ) from None
        return text.splitlines()[0] if text else ""
    if passphrase_env:
        value = os.environ.get(passphrase_env)
        if value is None:
            raise KeyLoadError(f"{flag}: environment variable {passphrase_env} is not set")
        return value
    raise KeyLoadError(f"{flag}: needs --passphrase-file FILE or --passphrase-env VAR")


def decrypt_keystore(path: str | os.PathLike[str], passphrase: str) -> bytes:
    """The key in a Web3 Secret Storage file; `KeyLoadError` naming the file otherwise."""
    try:
        raw = Path(path).read_text()
    except OSError as exc:
        raise KeyLoadError(f"cannot read keystore {path}: {exc.strerror}") from None
    try:
        doc = json.loads(raw)
    except ValueError:
        raise KeyLoadError(f"{path} is not a keystore (not JSON)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("crypto", doc.get("Crypto")), dict):
        raise KeyLoadError(f"{path} is not a keystore (no crypto section)")
    from eth_account import Account

    try:
        key = bytes(Account.decrypt(doc, passphrase))
    except ValueError as exc:
        # eth-account says "MAC mismatch" for a wrong passphrase; its other errors name a
        # field of the file. Neither is chained: nothing of the decryption reaches a traceback.
        reason = "wrong passphrase" if "MAC mismatch" in str(exc) else "unreadable keystore"
        raise KeyLoadError(f"cannot open keystore {path}: {reason}") from None
    except Exception:  # eth-account raises KeyError/TypeError on malformed files
        raise KeyLoadError(f"cannot open keystore {path}: malformed keystore") from None
    if len(key) != 32:
        raise KeyLoadError(f"keystore {path} does not hold a 32-byte key")
    return key


def encrypt_keystore(key: bytes, passphrase: str, *, scrypt_n: int | None = None) -> dict[str, Any]:
    """A Web3 Secret Storage document (version 3, scrypt) holding `key`."""
    from eth_account import Account

    doc: dict[str, Any] = Account.encrypt(key, passphrase, kdf="scrypt", iterations=scrypt_n)
    return doc


def read_plain_key(path: str | os.PathLike[str], where: str = "key file") -> bytes:
    """A 32-byte key stored as (0x-)hex text (the devnet's key files): `sequencer.config`'s
    one reader of key files."""
    return read_key_file(path, where)


def read_env_key(variable: str) -> bytes:
    """A 32-byte hex key from an environment variable (plain: the devnet's way)."""
    value = os.environ.get(variable, "").strip()
    try:  # the key file's form: 64 hex digits, 0x optional (prover.wire's hex otherwise)
        return parse_hex(value if value.startswith("0x") else "0x" + value, variable, size=32)
    except InvalidFieldError:  # its message would not echo the key; this one says where
        raise KeyLoadError(f"environment variable {variable} must hold a 32-byte hex key") from None


def add_key_arguments(
    p: argparse.ArgumentParser, *, prefix: str = "", role: str, plain_flag: str | None = None
) -> None:
    """``--[PREFIX-]keystore``, ``--[PREFIX-]passphrase-file``, ``--[PREFIX-]passphrase-env``,
    and the plain ``plain_flag`` (a key file, devnet only) when given."""
    dash = f"{prefix}-" if prefix else ""
    p.add_argument(
        f"--{dash}keystore",
        default=None,
        metavar="PATH",
        help=f"encrypted JSON keystore (Web3 Secret Storage) of the {role} key",
    )
    p.add_argument(
        f"--{dash}passphrase-file",
        default=None,
        metavar="FILE",
        help="file whose first line is the keystore's passphrase",
    )
    p.add_argument(
        f"--{dash}passphrase-env",
        default=None,
        metavar="VAR",
        help="environment variable holding the keystore's passphrase",
    )
    if plain_flag is not None:
        p.add_argument(
            plain_flag,
            default=None,
            metavar="FILE",
            help=f"plain 0x-hex {role} key file: the devnet only (a warning elsewhere)",
        )


def key_from_args(
    args: argparse.Namespace, *, prefix: str = "", plain_flag: str | None = None
) -> LoadedKey | None:
    """The key the flags of `add_key_arguments` name; None when none was given."""
    dest = f"{prefix.replace('-', '_')}_" if prefix else ""
    dash = f"{prefix}-" if prefix else ""
    keystore = getattr(args, f"{dest}keystore")
    plain = getattr(args, plain_flag.lstrip("-").replace("-", "_")) if plain_flag else None
    passphrase_file = getattr(args, f"{dest}passphrase_file")
    passphrase_env = getattr(args, f"{dest}passphrase_env")
    if keystore and plain:
        raise KeyLoadError(f"give --{dash}keystore or {plain_flag}, not both")
    if keystore:
        passphrase = read_passphrase(passphrase_file, passphrase_env, flag=f"--{dash}keystore")
        return LoadedKey(decrypt_keystore(keystore, passphrase), f"keystore {keystore}", True)
    if passphrase_file or passphrase_env:
        raise KeyLoadError(f"a passphrase was given but no --{dash}keystore")
    if plain:
        key = read_plain_key(plain, plain_flag or "key file")
        return LoadedKey(key, f"plain key file {plain}", False)
    return None


def key_from_settings(
    r: Resolved, *, plain_key: str, prefix: str = ""
) -> tuple[bytes, str, bool] | None:
    """`key_from_args` over a command's resolved settings (flags over its TOML table): the
    keys ``[PREFIX_]keystore``, ``[PREFIX_]passphrase_file``, ``[PREFIX_]passphrase_env`` and
    the plain `plain_key`; ``(key, source, encrypted)`` as `sequencer.config.KeyLoader`
    returns it, or None when none was given."""
    dest = f"{prefix}_" if prefix else ""
    values = r.values
    keystore = values.get(f"{dest}keystore")
    plain = values.get(plain_key)
    passphrase_file = values.get(f"{dest}passphrase_file")
    passphrase_env = values.get(f"{dest}passphrase_env")
    if keystore and plain:
        raise KeyLoadError(f"give {r.where(f'{dest}keystore')} or {r.where(plain_key)}, not both")
    if keystore:
        passphrase = read_passphrase(
            passphrase_file, passphrase_env, flag=r.where(f"{dest}keystore")
        )
        return decrypt_keystore(keystore, passphrase), f"keystore {keystore}", True
    if passphrase_file or passphrase_env:
        raise KeyLoadError(f"a passphrase was given but no {r.where(f'{dest}keystore')}")
    if plain:
        return read_plain_key(plain, r.where(plain_key)), f"plain key file {plain}", False
    return None


def warn_if_unsafe(key: LoadedKey, chain_id: int, role: str) -> bool:
    """Log a warning when an unencrypted key is used on a chain other than the devnet; True
    when it warned."""
    if key.encrypted or chain_id == DEVNET_CHAIN_ID:
        return False
    log.warning(
        "the %s key comes from %s, unencrypted, on chain %d (not the devnet's %d): use "
        "--keystore with --passphrase-file or --passphrase-env",
        role,
        key.source,
        chain_id,
        DEVNET_CHAIN_ID,
        extra={"address": key.address, "chain_id": chain_id},
    )
    return True


# --- attest key new ------------------------------------------------------------------------------


def _cmd_key_new(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists():
        raise KeyLoadError(f"{out} exists; not overwriting a keystore")
    if args.passphrase_file or args.passphrase_env:
        passphrase = read_passphrase(args.passphrase_file, args.passphrase_env, flag="key new")
    elif sys.stdin.isatty():
        passphrase = getpass.getpass("passphrase for the new keystore: ")
        if getpass.getpass("again: ") != passphrase:
            raise KeyLoadError("key new: the passphrases differ")
    else:
        raise KeyLoadError("key new: needs --passphrase-file FILE or --passphrase-env VAR")
    if not passphrase:
        raise KeyLoadError("key new: refusing an empty passphrase")
    from eth_account import Account

    account = Account.create()
    doc = encrypt_keystore(bytes(account.key), passphrase)
    # Written 0600 from the start: the file never exists world-readable, even briefly.
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
    print(account.address, flush=True)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("key", help="L1 keys").add_subparsers(
        dest="key_command", metavar="COMMAND"
    )
    new = keys.add_parser(
        "new", help="create a key in an encrypted keystore; prints its address only"
    )
    new.add_argument("--out", required=True, metavar="PATH", help="keystore file to create (0600)")
    new.add_argument(
        "--passphrase-file",
        default=None,
        metavar="FILE",
        help="file whose first line is the passphrase",
    )
    new.add_argument(
        "--passphrase-env",
        default=None,
        metavar="VAR",
        help="environment variable holding the passphrase",
    )
    new.set_defaults(handler=_cmd_key_new)
