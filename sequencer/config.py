"""Configuration of `attest serve`, `attest validate` and `attest devnet`: the one home of their
defaults, their TOML file (``--config FILE``) and their flags, applied as

    the flag if given, else the file's value if given, else the default defined here.

The file has one table per command, so one file can configure a whole deployment; each
command reads its own table and checks them all (docs/config.md lists every key, its type,
default and flag, with a complete example)::

    [serve]
    data_dir = "sequencer-data"
    rpc = "127.0.0.1:8645"
    sequencer_key_file = "sequencer.key"      # 0x-hex private key, signs receipts

    [serve.tokens]                             # bearer tokens for unsigned events, stored hashed
    "sha256:<hex of sha256(token)>" = "0x<address the token vouches as>"

    [validate]
    sequencer = ["http://127.0.0.1:8645"]

A key is its flag's name with ``_`` for ``-`` (``--l1-rpc`` is ``l1_rpc``); a few limits and
protocol parameters exist only in the file. Relative paths in the file are relative to the
file. An unknown table or key, or a value of the wrong type, is refused with one line naming
the key and the file.

Tokens are kept only as SHA-256 hashes, so a leaked config file does not leak credentials;
``attest token hash`` prints the hashed form of a token read from stdin or ``--token-file``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import hashlib
import math
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import orjson

from prover.errors import InvalidFieldError, UsageError
from prover.wire import parse_address, parse_hex

if TYPE_CHECKING:
    from sequencer.l1.signer import RemoteSigner

DEV_TOKEN: Final[str] = "dev"
"""The bearer token `--dev` adds. Never use it on a reachable interface."""

DEV_ADDRESS: Final[bytes] = bytes.fromhex("de7de7de7de7de7de7de7de7de7de7de7de7de70")
"""The address `--dev` binds the dev token to (recognisably fake: 0xde7de7...)."""

DEV_SEQUENCER_KEY: Final[bytes] = bytes.fromhex(
    # anvil's account 0 from the public "test test ... junk" mnemonic: the devnet sequencer.
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
)

ZERO_ADDRESS: Final[bytes] = bytes(20)

DEFAULT_HOST: Final[str] = "127.0.0.1"
"""Every server listens on the loopback interface unless told otherwise."""

SEQUENCER_PORT: Final[int] = 8645
"""`attest serve`'s port, and the sequencer's in `attest devnet`."""

VALIDATOR_PORT: Final[int] = 8646
"""`attest validate`'s port, and the validator's in `attest devnet`."""

CHECKPOINT_INTERVAL_S: Final[float] = 5.0
"""How often the committer anchors the durable head on L1 (serve and devnet)."""

L1_TIMEOUT_S: Final[float] = 10.0
"""Deadline of one L1 JSON-RPC call (serve, validate and devnet)."""


def hash_token(token: str) -> str:
    """The form a bearer token is stored in: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Config:
    """Everything `attest serve` needs. Frozen: change it with `dataclasses.replace`."""

    data_dir: Path
    """Where the LevelDB store lives."""
    host: str = DEFAULT_HOST
    port: int = SEQUENCER_PORT
    chain_id: int = 31337
    """EIP-712 domain chainId (docs/spec.md §4); from L1 once a contract is attached."""
    verifying_contract: bytes = ZERO_ADDRESS
    """EIP-712 domain verifyingContract: the rollup contract address."""
    block_max_records: int = 256
    """B of docs/spec.md §6: a block is sealed when it holds this many records."""
    block_interval_ms: int = 50
    """T of docs/spec.md §6: an open block is sealed this long after its first record."""
    receipt_deadline_s: int = 600
    """A receipt promises a covering checkpoint within this many seconds (docs/spec.md §5)."""
    sequencer_key: bytes = field(default=DEV_SEQUENCER_KEY, repr=False)
    """secp256k1 key that signs receipts; its address is the L1 sequencer. Left out of `repr`:
    a logged config must not carry it."""
    sequencer_key_source: str = "the public dev key"
    """Where the key came from (a keystore, a plain file), for the warning a plain key earns
    on a chain that is not the devnet (`sequencer.l1.keys.warn_if_unsafe`)."""
    sequencer_key_encrypted: bool = False
    """True when the key came from an encrypted keystore."""
    tokens: Mapping[str, bytes] = field(default_factory=dict)
    """``sha256:<hex>`` of a bearer token -> the 20-byte address it vouches as."""
    allowlist: frozenset[bytes] | None = None
    """When set, only these addresses may submit signed events."""
    max_queue_events: int = 200_000
    """Events waiting for the writer before submissions are refused with `overloaded`."""
    max_group_events: int = 20_000
    """At most this many events go into one group commit."""
    max_batch_events: int = 10_000
    """At most this many events in one `attest_submitBatch`."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest HTTP request body accepted."""
    max_connections: int = 10_000
    """Open HTTP connections at most (lowered at start to fit RLIMIT_NOFILE beside LevelDB)."""
    max_connections_per_ip: int = 0
    """Open HTTP connections per client address at most; 0: no per-address limit."""
    max_buffered_bytes: int = 128 * 1024 * 1024
    """Request body bytes held at once over all connections; beyond, 503 and -32005."""
    front_process: bool = True
    """Serve HTTP through a front process of its own (`sequencer/node/front.py`), which
    accepts every connection and answers refusals, `/health` and `attest_status` itself; when
    false, `io_thread` decides."""
    front_priority: int = 0
    """Nice value of the front process (-20..19); below 0 needs root or CAP_SYS_NICE."""
    io_thread: bool = True
    """Serve HTTP connections from a trio loop in a thread of its own, which answers refusals,
    `/health` and `attest_status` itself (`sequencer/rpc/io_thread.py`)."""
    dev: bool = False
    """`--dev`: adds the `dev` token bound to `DEV_ADDRESS`."""
    l1_rpc: str | None = None
    """Ethereum JSON-RPC endpoint of L1; None runs without checkpoints."""
    l1_contract: str | None = None
    """Address of the rollup contract on L1 (also the EIP-712 verifyingContract)."""
    checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S
    """How often the committer anchors the durable head on L1."""
    ingest_workers: int = 0
    """Worker processes that check submissions (`sequencer/node/ingest_pool.py`); 0: the event loop."""
    inject: str | None = None
    """A fault to inject once (`sequencer/node/faults.py`): devnets and tests only."""
    l1_clock_lag_s: float = 2.0
    """How far L1 block times may lag this clock; records younger than that wait a round
    before being committed (docs/spec.md §8 rule 4: no record stamped after its checkpoint)."""
    l1_max_fee_gwei: float = 500.0
    """Ceiling of the max fee per gas of every L1 transaction (`sequencer/l1/fees.py`)."""
    deadline_margin_s: float = 60.0
    """Safety margin on receipt deadlines: a deadline with less than a commit's expected time
    plus this left is at risk — fees climb, an alert, and no new receipt is promised until it
    is safe again (`sequencer/l1/deadlines.py`)."""
    l1_timeout_s: float = L1_TIMEOUT_S
    """Deadline of one L1 JSON-RPC call; a slower node counts as down for that round."""
    cors_origins: frozenset[str] = frozenset()
    """Origins whose browser pages may call the JSON-RPC endpoint besides this node's own
    explorer (``*``: any); `sequencer.rpc.cors`."""
    no_explorer: bool = False
    """True: no explorer at ``GET /`` and no `explorer_*` methods (`sequencer/explorer`)."""

    def with_dev(self) -> Config:
        tokens = dict(self.tokens)
        tokens[hash_token(DEV_TOKEN)] = DEV_ADDRESS
        return replace(self, tokens=tokens, dev=True)


@dataclass(frozen=True, slots=True)
class ValidatorConfig:
    """Everything `attest validate` needs. The first five have no default: give each as a flag
    or in the ``[validate]`` table."""

    data_dir: Path
    """Where the replica (LevelDB) lives."""
    upstreams: tuple[str, ...]
    """The sequencer's URL, then any other followers, tried in order."""
    l1_rpc: str
    contract: str
    key: bytes | RemoteSigner = field(repr=False)
    """The validator's L1 key, or the remote signer that holds it: it pays for proofs and
    receives the rewards. Not in `repr`."""
    host: str = DEFAULT_HOST
    port: int = VALIDATOR_PORT
    poll_s: float = 1.0
    """Seconds between L1 rounds of the watcher."""
    pull_s: float = 0.2
    """Seconds between pulls when the replica is up to date."""
    da_grace_s: float = 15.0
    """Seconds records may stay unavailable before a DA challenge."""
    l1_timeout_s: float = L1_TIMEOUT_S
    upstream_timeout_s: float = 5.0
    """Deadline of one HTTP request to an upstream."""
    cors_origins: frozenset[str] = frozenset()
    """Origins whose browser pages may call the JSON-RPC endpoint besides its own explorer."""
    no_explorer: bool = False
    """True: no explorer at ``GET /`` and no `explorer_*` methods."""
    key_source: str = "a plain key file"
    """Where the key came from, for the warning a plain key earns off the devnet."""
    key_encrypted: bool = False
    """True when the key came from an encrypted keystore or a remote signer."""
    l1_max_fee_gwei: float = 500.0
    """Ceiling of the max fee per gas of the validator's transactions."""


@dataclass(frozen=True, slots=True)
class DevnetConfig:
    """Everything `attest devnet` needs; its sequencer otherwise runs with `Config`'s defaults."""

    data_dir: Path | None = None
    """None: a new temporary directory."""
    host: str = DEFAULT_HOST
    port: int = SEQUENCER_PORT
    l1_port: int = 8545
    """Port of the embedded L1 node (0: any free port)."""
    l1_rpc: str | None = None
    """Use this L1 node instead of starting the embedded one."""
    checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S
    challenge_window_s: int = 120
    """The contract's challenge window: short, so a devnet finalizes within minutes."""
    da_window_s: int = 30
    """The contract's data-availability response window."""
    l1_timeout_s: float = L1_TIMEOUT_S
    inject: str | None = None
    no_validator: bool = False
    """True: do not start the devnet's validator."""
    validator_host: str = DEFAULT_HOST
    validator_port: int = VALIDATOR_PORT
    l1_block_time_s: float = 1.0
    """Seconds between blocks of the embedded L1 (`l1_contracts.devnet_node.DEFAULT_BLOCK_TIME_S`);
    0: a block per transaction, and L1 time stands still while idle."""


# --- values: one check per kind of setting, shared by the file and the flags ------------------

Check = Callable[[object, str], Any]
"""Checks one value named `where`; returns what the config holds or raises `InvalidFieldError`."""


def _address(value: object, where: str) -> bytes:
    return parse_address(value, where)


def _address_text(value: object, where: str) -> str:
    parse_address(value, where)
    assert isinstance(value, str)  # parse_address accepts strings only
    return value


def _addresses(value: object, where: str) -> frozenset[bytes]:
    if not isinstance(value, list):
        raise InvalidFieldError(where, "must be a list of 0x-hex addresses")
    return frozenset(parse_address(a, f"{where}[{i}]") for i, a in enumerate(value))


def _integer(value: object, where: str, minimum: int, maximum: int | None = None) -> int:
    # bool is an int subclass: `true` is not a count.
    if type(value) is not int or value < minimum or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise InvalidFieldError(where, f"must be an integer of at least {minimum}{bound}")
    return value


def _positive_int(value: object, where: str) -> int:
    return _integer(value, where, 1)


def _count(value: object, where: str) -> int:
    return _integer(value, where, 0)


def _nice(value: object, where: str) -> int:
    return _integer(value, where, -20, 19)


def _port(value: object, where: str) -> int:
    return _integer(value, where, 0, 65535)


def _number(value: object, where: str, *, zero: bool) -> float:
    # bool is an int subclass: `true` is not a duration; nan and inf are not either.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidFieldError(where, "must be a number of seconds")
    if value < 0 or (value == 0 and not zero):
        raise InvalidFieldError(where, "must be a number of seconds " + (">= 0" if zero else "> 0"))
    return float(value)


def _seconds(value: object, where: str) -> float:
    return _number(value, where, zero=False)


def _seconds_or_zero(value: object, where: str) -> float:
    return _number(value, where, zero=True)


def _positive_number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidFieldError(where, "must be a number")
    if value <= 0:
        raise InvalidFieldError(where, "must be a number > 0")
    return float(value)


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidFieldError(where, "must be a non-empty string")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidFieldError(where, "must be true or false")
    return value


def _url(value: object, where: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """An absolute URL with a host: ``localhost:8645`` alone is refused (urlsplit would read
    ``localhost`` as the scheme)."""
    text = _string(value, where)
    parts = urlsplit(text)
    if parts.scheme not in schemes or not parts.hostname:
        example = "http://127.0.0.1:8645"
        raise InvalidFieldError(
            where, f"must be a URL such as {example} ({' or '.join(schemes)}), got {text!r}"
        )
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise InvalidFieldError(where, f"has a malformed port: {text!r}") from None
    return text


def _sequencer_url(value: object, where: str) -> str:
    """A sequencer or follower: `sequencer.rpc.client.RpcClient` speaks plain http only."""
    return _url(value, where, ("http",))


def _sequencer_urls(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidFieldError(where, "must be a non-empty list of http:// URLs")
    return tuple(_sequencer_url(v, f"{where}[{i}]") for i, v in enumerate(value))


def _origins(value: object, where: str) -> frozenset[str]:
    """CORS origins: a list of ``scheme://host[:port]`` (no path) or ``*``; a flag's text is
    comma-separated."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise InvalidFieldError(
            where, 'must be a list of origins such as "http://localhost:3000", or "*"'
        )
    out: set[str] = set()
    for item in items:
        origin = item.strip().rstrip("/") if isinstance(item, str) else ""
        scheme, sep, rest = origin.partition("://")
        if origin != "*" and (
            scheme not in ("http", "https") or not sep or not rest or "/" in rest
        ):
            raise InvalidFieldError(where, f"an origin is scheme://host[:port] or *, got {item!r}")
        out.add(origin)
    return frozenset(out)


def parse_host_port(value: object, where: str) -> tuple[str, int]:
    """``HOST:PORT`` to listen on (``[::1]:8645`` for IPv6); an empty host is `DEFAULT_HOST`."""
    text = _string(value, where)
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not port.isascii() or not port.isdigit() or int(port) > 65535 or "/" in host:
        raise InvalidFieldError(
            where, f"must be HOST:PORT such as 127.0.0.1:{SEQUENCER_PORT}, got {text!r}"
        )
    return host or DEFAULT_HOST, int(port)


def _tokens(value: object, where: str) -> dict[str, bytes]:
    if not isinstance(value, dict):
        raise InvalidFieldError(where, 'must be a table of "sha256:<hex>" = "0x<address>"')
    tokens: dict[str, bytes] = {}
    for token_hash, address in value.items():
        digits = token_hash.removeprefix("sha256:")
        if not token_hash.startswith("sha256:") or len(digits) != 64 or not _is_hex(digits):
            # Never the key itself: a token pasted here by mistake must not reach a log.
            raise InvalidFieldError(
                where, "a key is not sha256:<64 hex digits> (attest token hash prints one)"
            )
        # Lower case: `hash_token` writes it so, and ingest looks the header's hash up as is.
        tokens["sha256:" + digits.lower()] = parse_address(address, f"{where}.{token_hash}")
    return tokens


def _is_hex(text: str) -> bool:
    return text.isascii() and all(c in "0123456789abcdefABCDEF" for c in text)


@dataclass(frozen=True, slots=True)
class Kind:
    """A type of setting: how docs/config.md names it, and its check."""

    name: str
    check: Check
    numeric: bool = False
    """A flag's text is read as a number before the check."""


INTEGER: Final = Kind("integer > 0", _positive_int, numeric=True)
COUNT: Final = Kind("integer >= 0", _count, numeric=True)
PORT: Final = Kind("integer 0-65535", _port, numeric=True)
NICE: Final = Kind("integer -20-19", _nice, numeric=True)
SECONDS: Final = Kind("seconds > 0", _seconds, numeric=True)
SECONDS_OR_ZERO: Final = Kind("seconds >= 0", _seconds_or_zero, numeric=True)
NUMBER: Final = Kind("number > 0", _positive_number, numeric=True)
STRING: Final = Kind("string", _string)
PATH: Final = Kind("path", _string)
BOOL: Final = Kind("boolean", _bool)
URL: Final = Kind("URL", _url)
SEQUENCER_URLS: Final = Kind("list of http URLs", _sequencer_urls)
HOST_PORT: Final = Kind("HOST:PORT", parse_host_port)
ADDRESS: Final = Kind("address", _address_text)
ADDRESS_BYTES: Final = Kind("address", _address)
ADDRESSES: Final = Kind("list of addresses", _addresses)
TOKENS: Final = Kind("table", _tokens)
ORIGINS: Final = Kind("list of origins", _origins)


@dataclass(frozen=True, slots=True)
class Setting:
    """One key of a command's table, and the flag of the same name."""

    key: str
    """The TOML key; the flag is ``--`` + the key with ``-`` for ``_``, its argparse dest the key."""
    kind: Kind
    field: str | None
    """The config attribute it sets when it maps one to one; None: the builder converts it."""
    help: str
    metavar: str | None = None
    flag: bool = True
    """False: only the file sets it (limits and protocol parameters)."""
    default: str | None = None
    """The default as docs/config.md writes it, when `field` cannot say."""

    @property
    def flag_name(self) -> str:
        return "--" + self.key.replace("_", "-")


_REQUIRED: Final[str] = "required"

# Settings several commands take, defined once so their checks and help cannot drift.
_CHECKPOINT_INTERVAL: Final = Setting(
    "checkpoint_interval",
    SECONDS,
    "checkpoint_interval_s",
    "seconds between checkpoints on L1",
    "S",
)
_L1_TIMEOUT: Final = Setting("l1_timeout", SECONDS, "l1_timeout_s", "seconds per L1 call", "S")
_CORS_ORIGINS: Final = Setting(
    "cors_origins",
    ORIGINS,
    "cors_origins",
    "browser origins allowed to call the JSON-RPC endpoint besides this node's own "
    "explorer (comma-separated as a flag; * for any)",
    "ORIGINS",
    default="none",
)
_L1_MAX_FEE: Final = Setting(
    "l1_max_fee_gwei",
    NUMBER,
    "l1_max_fee_gwei",
    "ceiling of the max fee per gas of every L1 transaction, in gwei",
    "GWEI",
)
_PASSPHRASE: Final = (
    Setting(
        "passphrase_file",
        PATH,
        None,
        "file whose first line is the keystore's passphrase",
        "FILE",
        default="none",
    ),
    Setting(
        "passphrase_env",
        STRING,
        None,
        "environment variable holding the keystore's passphrase",
        "VAR",
        default="none",
    ),
)
"""Where a keystore's passphrase comes from (serve and validate take the same two)."""
_NO_EXPLORER: Final = Setting(
    "no_explorer", BOOL, "no_explorer", "do not serve the explorer at GET /"
)


SERVE: Final[tuple[Setting, ...]] = (
    Setting(
        "data_dir", PATH, "data_dir", "directory of the LevelDB store", "DIR", default=_REQUIRED
    ),
    Setting(
        "rpc",
        HOST_PORT,
        None,
        "HOST:PORT to listen on",
        "HOST:PORT",
        default=f'"{DEFAULT_HOST}:{SEQUENCER_PORT}"',
    ),
    Setting("dev", BOOL, "dev", "add the bearer token 'dev' and print it"),
    Setting("l1_rpc", URL, "l1_rpc", "L1 JSON-RPC URL (none: no checkpoints)", "URL"),
    Setting("contract", ADDRESS, "l1_contract", "rollup contract address on L1", "ADDR"),
    _CHECKPOINT_INTERVAL,
    _L1_TIMEOUT,
    Setting(
        "l1_clock_lag",
        SECONDS_OR_ZERO,
        "l1_clock_lag_s",
        "seconds L1 block times may lag this clock",
        "S",
    ),
    Setting(
        "inject",
        STRING,
        "inject",
        "misbehave once in this way, for demonstrations (never on a real chain): "
        "bad-signature, wrong-seq, time-travel, replay, withhold-data, break-receipt, ignore-forced",
        "FAULT",
    ),
    Setting(
        "ingest_workers",
        COUNT,
        "ingest_workers",
        "check submissions in N worker processes (0: on the event loop)",
        "N",
    ),
    Setting(
        "sequencer_key_file",
        PATH,
        None,
        "plain 0x-hex sequencer key file: the devnet only (a warning elsewhere)",
        "FILE",
        default="the dev key",
    ),
    Setting(
        "keystore",
        PATH,
        None,
        "encrypted JSON keystore (Web3 Secret Storage) of the sequencer key",
        "PATH",
        default="none",
    ),
    *_PASSPHRASE,
    _L1_MAX_FEE,
    Setting(
        "deadline_margin",
        SECONDS_OR_ZERO,
        "deadline_margin_s",
        "seconds of margin on receipt deadlines: less left than a commit takes plus this, and "
        "fees climb to the ceiling, /health alerts and new submissions are refused (-32011)",
        "S",
    ),
    _CORS_ORIGINS,
    _NO_EXPLORER,
    Setting(
        "chain_id",
        INTEGER,
        "chain_id",
        "EIP-712 domain chainId while no L1 is attached (else L1's)",
        flag=False,
    ),
    Setting(
        "verifying_contract",
        ADDRESS_BYTES,
        "verifying_contract",
        "EIP-712 domain verifyingContract while no L1 is attached (else --contract)",
        flag=False,
        default='"0x' + "00" * 20 + '"',
    ),
    Setting(
        "block_max_records",
        INTEGER,
        "block_max_records",
        "a block is sealed when it holds this many records",
        flag=False,
    ),
    Setting(
        "block_interval_ms",
        INTEGER,
        "block_interval_ms",
        "an open block is sealed this long after its first record",
        flag=False,
    ),
    Setting(
        "receipt_deadline_s",
        INTEGER,
        "receipt_deadline_s",
        "a receipt promises a covering checkpoint within this many seconds",
        flag=False,
    ),
    Setting(
        "max_queue_events",
        INTEGER,
        "max_queue_events",
        "events waiting for the writer before submissions are refused",
        flag=False,
    ),
    Setting(
        "max_group_events",
        INTEGER,
        "max_group_events",
        "at most this many events in one group commit",
        flag=False,
    ),
    Setting(
        "max_batch_events",
        INTEGER,
        "max_batch_events",
        "at most this many events in one attest_submitBatch",
        flag=False,
    ),
    Setting(
        "max_body_bytes",
        INTEGER,
        "max_body_bytes",
        "largest HTTP request body accepted",
        flag=False,
    ),
    Setting(
        "max_connections",
        INTEGER,
        "max_connections",
        "open HTTP connections at most (lowered at start to fit RLIMIT_NOFILE beside LevelDB)",
        flag=False,
    ),
    Setting(
        "max_connections_per_ip",
        COUNT,
        "max_connections_per_ip",
        "open HTTP connections per client address at most; 0: no per-address limit",
        flag=False,
    ),
    Setting(
        "max_buffered_bytes",
        INTEGER,
        "max_buffered_bytes",
        "request body bytes held at once over all connections; beyond, 503 and -32005",
        flag=False,
    ),
    Setting(
        "front_process",
        BOOL,
        "front_process",
        "serve HTTP through a front process of its own, which accepts every connection and "
        "answers refusals, /health and attest_status while ingest is busy (false: io_thread "
        "decides)",
        flag=False,
    ),
    Setting(
        "front_priority",
        NICE,
        "front_priority",
        "nice value of the front process, like nginx's worker_priority: below 0 it is run "
        "before the sequencer's and other busy processes when they share the cores (needs root "
        "or CAP_SYS_NICE; without, a warning and 0)",
        flag=False,
    ),
    Setting(
        "io_thread",
        BOOL,
        "io_thread",
        "serve HTTP connections from a loop in a thread of its own, which answers refusals, "
        "/health and attest_status while ingest is busy (false: everything on the main loop)",
        flag=False,
    ),
    Setting(
        "allowlist",
        ADDRESSES,
        "allowlist",
        "only these addresses may submit signed events",
        flag=False,
        default="anyone",
    ),
    Setting(
        "tokens",
        TOKENS,
        None,
        'bearer tokens: "sha256:<hex>" = "0x<address it vouches as>"',
        flag=False,
        default="none",
    ),
)
"""`attest serve`'s table; `Config` holds the defaults."""

VALIDATE: Final[tuple[Setting, ...]] = (
    Setting(
        "sequencer",
        SEQUENCER_URLS,
        "upstreams",
        "upstream URL: the sequencer, or any follower (repeat: tried in order)",
        "URL",
        default=_REQUIRED,
    ),
    Setting("l1_rpc", URL, "l1_rpc", "L1 JSON-RPC URL", "URL", default=_REQUIRED),
    Setting(
        "contract", ADDRESS, "contract", "rollup contract address on L1", "ADDR", default=_REQUIRED
    ),
    Setting(
        "key_file",
        PATH,
        None,
        "plain 0x-hex validator L1 key file: the devnet only (a warning elsewhere)",
        "FILE",
        default="none (one of key_file, keystore, signer_url is required)",
    ),
    Setting(
        "keystore",
        PATH,
        None,
        "encrypted JSON keystore (Web3 Secret Storage) of the validator's L1 key",
        "PATH",
        default="none",
    ),
    *_PASSPHRASE,
    Setting(
        "signer_url",
        URL,
        None,
        "remote signer (JSON-RPC eth_signTransaction: Clef, web3signer) instead of a key",
        "URL",
        default="none",
    ),
    Setting(
        "signer_address",
        ADDRESS,
        None,
        "the account the remote signer signs as",
        "ADDR",
        default="none",
    ),
    Setting(
        "data_dir", PATH, "data_dir", "directory of the replica (LevelDB)", "DIR", default=_REQUIRED
    ),
    Setting(
        "rpc",
        HOST_PORT,
        None,
        "HOST:PORT to serve reads on",
        "HOST:PORT",
        default=f'"{DEFAULT_HOST}:{VALIDATOR_PORT}"',
    ),
    Setting("poll_interval", SECONDS, "poll_s", "seconds between L1 rounds", "S"),
    Setting("pull_interval", SECONDS, "pull_s", "seconds between pulls when up to date", "S"),
    Setting(
        "da_grace",
        SECONDS_OR_ZERO,
        "da_grace_s",
        "seconds records may stay unavailable before a DA challenge",
        "S",
    ),
    _L1_TIMEOUT,
    Setting(
        "upstream_timeout",
        SECONDS,
        "upstream_timeout_s",
        "seconds per call to an upstream, in all (connect, send, the whole answer)",
        "S",
    ),
    _L1_MAX_FEE,
    _CORS_ORIGINS,
    _NO_EXPLORER,
)
"""`attest validate`'s table; `ValidatorConfig` holds the defaults."""

DEVNET: Final[tuple[Setting, ...]] = (
    Setting(
        "data_dir", PATH, "data_dir", "sequencer data", "DIR", default="a new temporary directory"
    ),
    Setting(
        "rpc",
        HOST_PORT,
        None,
        "sequencer HOST:PORT",
        "HOST:PORT",
        default=f'"{DEFAULT_HOST}:{SEQUENCER_PORT}"',
    ),
    Setting("l1_port", PORT, "l1_port", "port of the embedded L1 node", "PORT"),
    Setting(
        "l1_rpc",
        URL,
        "l1_rpc",
        "use this L1 node instead of the embedded one",
        "URL",
        default="the embedded L1",
    ),
    Setting(
        "l1_block_time",
        SECONDS_OR_ZERO,
        "l1_block_time_s",
        "seconds between blocks of the embedded L1 (0: a block per transaction, and L1 "
        "time stands still while idle)",
        "S",
    ),
    _CHECKPOINT_INTERVAL,
    Setting("challenge_window", INTEGER, "challenge_window_s", "challenge window, seconds", "S"),
    Setting("da_window", INTEGER, "da_window_s", "DA response window, seconds", "S"),
    _L1_TIMEOUT,
    Setting(
        "inject",
        STRING,
        "inject",
        "the sequencer misbehaves once in this way (see attest serve --help)",
        "FAULT",
    ),
    Setting("no_validator", BOOL, "no_validator", "do not start the validator"),
    Setting(
        "validator_rpc",
        HOST_PORT,
        None,
        "validator HOST:PORT",
        "HOST:PORT",
        default=f'"{DEFAULT_HOST}:{VALIDATOR_PORT}"',
    ),
)
"""`attest devnet`'s table; `DevnetConfig` holds the defaults."""

SECTIONS: Final[dict[str, tuple[Setting, ...]]] = {
    "serve": SERVE,
    "validate": VALIDATE,
    "devnet": DEVNET,
}
"""Each command's table in the file."""

CONFIG_CLASSES: Final[dict[str, type]] = {
    "serve": Config,
    "validate": ValidatorConfig,
    "devnet": DevnetConfig,
}
"""Each command's config dataclass: the home of its defaults."""


def documented_default(command: str, setting: Setting) -> str:
    """The default of `setting` as docs/config.md and ``--help`` write it."""
    if setting.default is not None:
        return setting.default
    assert setting.field is not None, f"{command}.{setting.key} needs a documented default"
    f = {f.name: f for f in dataclasses.fields(CONFIG_CLASSES[command])}[setting.field]
    value = f.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    assert isinstance(value, int | float), f"{command}.{setting.key}: no TOML form for {value!r}"
    return repr(value)


# --- the file and the flags ---------------------------------------------------------------------


def read_config_file(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Every table of the file, every value checked; relative paths made relative to the file.

    Raises `UsageError` when the file cannot be read or is not TOML, `InvalidFieldError` naming
    the file and the key for an unknown table or key or a value of the wrong type.
    """
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise UsageError(f"--config {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--config {path}: not a TOML file: {exc}") from None
    tables: dict[str, dict[str, Any]] = {}
    for name, table in doc.items():
        settings = SECTIONS.get(name)
        if settings is None or not isinstance(table, dict):
            raise InvalidFieldError(
                f"{path}: {name}",
                "unknown table or key; settings go in [serve], [validate] or [devnet] "
                "(docs/config.md)",
            )
        by_key = {s.key: s for s in settings}
        checked: dict[str, Any] = {}
        for key, value in table.items():
            where = f"{path}: [{name}] {key}"
            setting = by_key.get(key)
            if setting is None:
                raise InvalidFieldError(where, "unknown key (docs/config.md lists every key)")
            checked[key] = setting.kind.check(value, where)
            if setting.kind is PATH:
                checked[key] = str(Path(path).parent / Path(checked[key]).expanduser())
        tables[name] = checked
    return tables


def _flag_type(kind: Kind, flag: str) -> Callable[[str], Any]:
    """argparse's ``type=`` for a flag: the same check as the file's value, so that a flag and
    a key accept the same values; argparse reports a refusal as ``argument --flag: reason``."""

    def convert(text: str) -> Any:
        value: object = text
        if kind.numeric:
            try:
                value = int(text)
            except ValueError:
                # Else the check refuses the string with its own reason.
                with contextlib.suppress(ValueError):
                    value = float(text)
        try:
            return kind.check(value, flag)
        except InvalidFieldError as exc:
            raise argparse.ArgumentTypeError(exc.reason) from None

    convert.__name__ = kind.name
    return convert


def sequencer_url_type(flag: str) -> Callable[[str], Any]:
    """argparse's ``type=`` for a flag naming a sequencer or follower (``http://HOST:PORT``)."""
    return _flag_type(Kind("URL", _sequencer_url), flag)


def url_type(flag: str) -> Callable[[str], Any]:
    """argparse's ``type=`` for a flag naming an L1 node (http or https)."""
    return _flag_type(URL, flag)


def add_settings_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """``--config`` and one flag per setting of `command` that has one.

    Every flag defaults to None, so that `resolve` tells a flag given from one left out: a flag
    given wins over the file, a flag left out leaves the file's value or the default.
    """
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help=f"TOML file whose [{command}] table sets any option below (docs/config.md); "
        "flags given override it",
    )
    for s in SECTIONS[command]:
        if not s.flag:
            continue
        default = documented_default(command, s)
        text = s.help + (
            ""
            if s.kind is BOOL
            else " (required)"
            if default == _REQUIRED
            else f" (default: {default})"
        )
        text = text.replace("%", "%%")
        if s.kind is BOOL:
            parser.add_argument(
                s.flag_name, dest=s.key, action="store_true", default=None, help=text
            )
        elif s.kind is SEQUENCER_URLS:
            parser.add_argument(
                s.flag_name,
                dest=s.key,
                action="append",
                default=None,
                type=sequencer_url_type(s.flag_name),
                metavar=s.metavar,
                help=text,
            )
        else:
            parser.add_argument(
                s.flag_name,
                dest=s.key,
                default=None,
                type=_flag_type(s.kind, s.flag_name),
                metavar=s.metavar,
                help=text,
            )


@dataclass(frozen=True, slots=True)
class Resolved:
    """One command's settings: each the flag if given, else the file's value if given; a key
    absent from `values` takes the config dataclass's default."""

    command: str
    values: dict[str, Any]
    from_flags: frozenset[str]
    path: str | None

    def where(self, key: str) -> str:
        """How an error names the setting: its flag, or the file and key it came from."""
        if key in self.from_flags or self.path is None:
            return "--" + key.replace("_", "-")
        return f"{self.path}: [{self.command}] {key}"

    def required(self, key: str) -> Any:
        if key not in self.values:
            raise UsageError(
                f"attest {self.command} needs --{key.replace('_', '-')} (or {key} in the "
                f"[{self.command}] table of a --config file)"
            )
        return self.values[key]

    def fields(self) -> dict[str, Any]:
        """The given values of the settings that map one to one to a config attribute."""
        return {
            s.field: self.values[s.key]
            for s in SECTIONS[self.command]
            if s.field is not None and s.key in self.values
        }


def resolve(command: str, args: argparse.Namespace) -> Resolved:
    """Flags over the ``[command]`` table of ``args.config`` (when given)."""
    path: str | None = getattr(args, "config", None)
    values = dict(read_config_file(path).get(command, {})) if path is not None else {}
    flags: set[str] = set()
    for s in SECTIONS[command]:
        given = getattr(args, s.key, None) if s.flag else None
        if given is not None:
            values[s.key] = tuple(given) if isinstance(given, list) else given
            flags.add(s.key)
    return Resolved(command, values, frozenset(flags), path)


def read_key_file(path: str | os.PathLike[str], where: str = "key file") -> bytes:
    """A 32-byte secp256k1 key stored as 0x-hex text (the 0x may be left out; a final newline
    is fine). No message ever quotes the file's content: it may be a key with one typo."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except OSError as exc:
        raise UsageError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        text = "not ascii"  # refused below, without quoting it
    text = text.strip()
    try:
        return parse_hex(text if text.startswith("0x") else "0x" + text, where, size=32)
    except InvalidFieldError:
        raise InvalidFieldError(
            where, f"{path} must hold one 32-byte key: 0x and 64 hex digits, nothing else"
        ) from None


# --- each command's config ---------------------------------------------------------------------


KeyLoader = Callable[[Resolved], tuple[Any, str, bool] | None]
"""Loads a command's L1 key from its resolved settings (keystore, plain file, remote signer):
``(key, where it came from, encrypted)``, or None when none is named. The services pass
`sequencer.l1.keys`' loader; without one, only the plain key file is read."""


def serve_config(args: argparse.Namespace, load_key: KeyLoader | None = None) -> Config:
    """`attest serve`'s `Config`: flags over ``[serve]`` over the defaults."""
    r = resolve("serve", args)
    changes = r.fields()
    changes["data_dir"] = Path(r.required("data_dir"))
    if "rpc" in r.values:
        changes["host"], changes["port"] = r.values["rpc"]
    loaded = load_key(r) if load_key is not None else None
    if loaded is not None:
        key, source, encrypted = loaded
        changes.update(
            sequencer_key=key, sequencer_key_source=source, sequencer_key_encrypted=encrypted
        )
    elif "sequencer_key_file" in r.values:
        changes["sequencer_key"] = read_key_file(
            r.values["sequencer_key_file"], r.where("sequencer_key_file")
        )
        changes["sequencer_key_source"] = f"plain key file {r.values['sequencer_key_file']}"
    if "tokens" in r.values:
        changes["tokens"] = dict(r.values["tokens"])
    config = Config(**changes)
    if config.dev:
        config = config.with_dev()
    if config.l1_rpc is not None and config.l1_contract is None:
        raise UsageError(
            "attest serve: an L1 endpoint (l1_rpc) needs the rollup contract address"
            " (--contract, or contract in [serve])"
        )
    return config


def validator_config(
    args: argparse.Namespace, load_key: KeyLoader | None = None
) -> ValidatorConfig:
    """`attest validate`'s `ValidatorConfig`: flags over ``[validate]`` over the defaults."""
    r = resolve("validate", args)
    for key in ("sequencer", "l1_rpc", "contract", "data_dir"):
        r.required(key)
    changes = r.fields()
    changes["data_dir"] = Path(changes["data_dir"])
    loaded = load_key(r) if load_key is not None else None
    if loaded is not None:
        changes["key"], changes["key_source"], changes["key_encrypted"] = loaded
    elif "key_file" in r.values:
        changes["key"] = read_key_file(r.values["key_file"], r.where("key_file"))
    else:
        raise UsageError(
            "attest validate needs the validator's key: --keystore PATH with --passphrase-file/"
            "--passphrase-env, --signer-url with --signer-address, or --key-file (devnet); or "
            "the same keys in the [validate] table of a --config file"
        )
    if "rpc" in r.values:
        changes["host"], changes["port"] = r.values["rpc"]
    return ValidatorConfig(**changes)


def devnet_config(args: argparse.Namespace) -> DevnetConfig:
    """`attest devnet`'s `DevnetConfig`: flags over ``[devnet]`` over the defaults."""
    r = resolve("devnet", args)
    changes = r.fields()
    if "data_dir" in changes:
        changes["data_dir"] = Path(changes["data_dir"])
    if "rpc" in r.values:
        changes["host"], changes["port"] = r.values["rpc"]
    if "validator_rpc" in r.values:
        changes["validator_host"], changes["validator_port"] = r.values["validator_rpc"]
    return DevnetConfig(**changes)


# --- attest token hash ---------------------------------------------------------------------------


def _cmd_token_hash(args: argparse.Namespace) -> int:
    if args.token_file is not None:
        try:
            text = Path(args.token_file).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not text"
            raise UsageError(f"--token-file: cannot read {args.token_file}: {reason}") from None
    elif sys.stdin.isatty():
        text = getpass.getpass("token (not echoed): ")
    else:
        text = sys.stdin.read()
    token = text.strip()  # as `sequencer.node.ingest` strips the Authorization header's token
    if not token:
        raise UsageError("no token given: pipe it to stdin, or give --token-file FILE")
    hashed = hash_token(token)
    if args.address is None:
        print(hashed)
    else:
        print(f'"{hashed}" = "{args.address}"')
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `attest token hash`."""
    token = sub.add_parser("token", help="bearer tokens for unsigned events")
    token_sub = token.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    h = token_sub.add_parser(
        "hash",
        help="print the hashed form of a token, as [serve.tokens] stores it",
        description="Read a bearer token from stdin (or --token-file) and print sha256:<hex>, "
        "the form the [serve.tokens] table of the config file stores. The token itself is "
        "never printed; keep it out of argv, where other users can see it.",
    )
    h.add_argument(
        "--token-file",
        default=None,
        metavar="FILE",
        help="read the token from FILE (default: stdin)",
    )
    h.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        type=_flag_type(ADDRESS, "--address"),
        help='print a whole [serve.tokens] line: "sha256:<hex>" = "ADDR"',
    )
    h.set_defaults(handler=_cmd_token_hash)
