"""Differential fuzzing of our HTTP/1.1 request-head parser against h11 as the oracle.

The hand-written framing in `sequencer.rpc.http_server` was kept over httptools by measurement
(docs/design.md); this holds it to a well-kept parser instead. Hypothesis builds request heads
from the grammar of RFC 9112 with deliberate damage (bad tokens, stray CR/LF, obs-fold,
conflicting framing, control bytes) and feeds the same bytes to `_parse_head` and to an h11
server connection. Both must refuse, or both accept with the same method, target, header fields
and body framing.

Where we are deliberately stricter than h11, the case is named in `_STRICTER` and checked to be
exactly that (a refusal of ours that h11 accepts for one of those reasons); anything else that
differs fails the test.
"""

from __future__ import annotations

import re

import h11
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sequencer.rpc.http_server import _HttpError, _parse_head

_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

methods = st.one_of(
    st.sampled_from([b"GET", b"POST", b"HEAD", b"PUT", b"OPTIONS"]),
    st.text(_TOKEN_CHARS, min_size=1, max_size=8).map(str.encode),
    st.binary(min_size=0, max_size=6),
)
targets = st.one_of(
    st.sampled_from([b"/", b"/health", b"/a?b=c", b"/%20x", b"*", b"http://h:1/p", b"//x"]),
    st.binary(min_size=0, max_size=12),
)
versions = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1 "])
names = st.one_of(
    st.sampled_from([b"Host", b"Content-Length", b"Transfer-Encoding", b"Connection",
                     b"Expect", b"X-A", b"content-length"]),
    st.text(_TOKEN_CHARS, min_size=1, max_size=6).map(str.encode),
    st.binary(min_size=0, max_size=5),
)  # fmt: skip
values = st.one_of(
    st.sampled_from([b"t", b"5", b"0", b"5, 5", b"5, 6", b"-1", b"chunked", b"Chunked",
                     b"gzip, chunked", b"close", b"keep-alive", b"100-continue", b" v ", b"",
                     b"a\tb", b"\x80\xff", b"a\x00b", b"a\rb", b"99999999999999999999"]),
    st.binary(min_size=0, max_size=8),
)  # fmt: skip
fields = st.lists(st.tuples(names, st.sampled_from([b": ", b":", b" : ", b":\t"]), values),
                  max_size=6)  # fmt: skip


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    line = draw(methods) + b" " + draw(targets) + b" " + draw(versions)
    out = [line]
    if draw(st.booleans()):
        out.append(b"Host: example")
    for name, sep, value in draw(fields):
        out.append(name + sep + value)
    if draw(st.integers(0, 9)) == 0:
        out.insert(draw(st.integers(1, len(out))), b" folded")  # obs-fold
    return b"\r\n".join(out)


def _has_control_byte_in_a_field(raw: bytes) -> bool:
    return any(re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", line) for line in raw.split(b"\r\n")[1:])


def _has_obs_fold(raw: bytes) -> bool:
    return any(line[:1] in (b" ", b"\t") for line in raw.split(b"\r\n")[1:])


#: Our deliberate refusals of what h11 accepts: (reason pattern, condition on the bytes, why).
_STRICTER = (
    # RFC 9112 §6.1: both framings at once is how requests are smuggled; h11 lets
    # Transfer-Encoding win (as the RFC allows), we refuse the request.
    (r"both Transfer-Encoding and Content-Length", None, "smuggling guard"),
    # RFC 9112 §3.2.2-3.2.4: we serve only origin- and absolute-form http(s) targets; h11 takes
    # any visible-ASCII target (authority- and asterisk-form included).
    (r"request target must be a path or an absolute", None, "no CONNECT or OPTIONS *"),
    # RFC 9112 §6.1: no transfer coding but exactly "chunked" (h11 takes "gzip, chunked").
    (r"only Transfer-Encoding: chunked", None, "one transfer coding"),
    # Content-Length of more than 18 digits: beyond any body limit, refused before int().
    (r"Content-Length must be a decimal number", None, "length bound"),
    # RFC 9110 §15.6.6: 505 for a major version we do not speak (h11 reads "HTTP/2.0" as 1.x).
    (r"unsupported HTTP version", None, "505"),
    # RFC 9112 §5.2: a server MAY reject obs-fold with 400 instead of unfolding it (h11 unfolds).
    (r"malformed header line", _has_obs_fold, "no obs-fold"),
    # RFC 9110 §5.5: control characters in a field value are invalid; a recipient MAY keep
    # them (h11 does); we refuse them.
    (r"malformed header line", _has_control_byte_in_a_field, "no CTL in field values"),
)


def _stricter(reason: str, raw: bytes) -> bool:
    return any(re.search(pattern, reason) and (cond is None or cond(raw))
               for pattern, cond, _ in _STRICTER)  # fmt: skip


def _ours(raw: bytes) -> tuple[str, str, dict[str, str], int | None, bool] | str:
    try:
        head = _parse_head(raw)
    except _HttpError as exc:
        return _reason(exc)
    return (head.method, head.target, head.headers, head.content_length, head.chunked)


def _reason(exc: _HttpError) -> str:
    match = re.search(rb'"message":"malformed HTTP request: ([^"]*)"', exc.body)
    return match[1].decode() if match else f"status {exc.status}"


def _h11(raw: bytes) -> tuple[str, str, dict[str, str], int | None, bool] | None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw + b"\r\n\r\n")
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    if not isinstance(event, h11.Request):
        return None
    headers: dict[str, str] = {}
    for name, value in event.headers:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        headers[key] = text if key not in headers else f"{headers[key]}, {text}"
    chunked = "transfer-encoding" in headers
    length = (
        None
        if chunked or "content-length" not in headers
        else int(headers["content-length"].split(",")[0])
    )
    return (event.method.decode("ascii"), event.target.decode("ascii"), headers, length, chunked)


@settings(max_examples=1500, deadline=None)
@given(heads())
@example(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked")
@example(b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b")
@example(b"GET / HTTP/1.1\r\nHost: t\r\nHost: u")
@example(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 5")
@example(b"GET / HTTP/1.1\r\nHost: t\r\nX : 1")
def test_our_head_parser_agrees_with_h11(raw: bytes) -> None:
    ours = _ours(raw)
    theirs = _h11(raw)
    if isinstance(ours, str):
        if theirs is None:
            return  # both refuse
        assert _stricter(ours, raw), f"we refuse ({ours}) what h11 accepts: {raw!r} -> {theirs}"
        return
    assert theirs is not None, f"we accept what h11 refuses: {raw!r} -> {ours}"
    method, target, headers, length, chunked = ours
    h_method, h_target, h_headers, h_length, h_chunked = theirs
    # h11 folds identical repeated Content-Length values into one; the length is compared below.
    headers.pop("content-length", None)
    h_headers.pop("content-length", None)
    assert (method, headers, chunked) == (h_method, h_headers, h_chunked), raw
    assert length == h_length or (length is None and h_length == 0), raw
    if target.startswith("/") and h_target.startswith("/"):
        assert target == h_target, raw


@pytest.mark.parametrize("target", [b"http://h:1/p?q", b"HTTPS://h", b"http://h?x"])
def test_absolute_form_is_the_only_normalisation(target: bytes) -> None:
    raw = b"GET " + target + b" HTTP/1.1\r\nHost: h"
    ours = _ours(raw)
    theirs = _h11(raw)
    assert not isinstance(ours, str) and theirs is not None
    assert theirs[1] == target.decode() and ours[1].startswith("/")
