from __future__ import annotations

import pytest

from tektite.executor.masking import Masker, StreamMasker, secret_patterns

SECRET = "s3cr3t-T0KEN-value"


def feed_all(masker: Masker, chunks: list[bytes]) -> bytes:
    stream = StreamMasker(masker)
    return b"".join(stream.feed(c) for c in chunks) + stream.flush()


def test_value_is_masked_everywhere_it_appears() -> None:
    masker = Masker([SECRET])
    out = masker.mask(f"token={SECRET}; again {SECRET}\n".encode())
    assert out == b"token=***; again ***\n"


def test_each_line_of_a_multiline_value_is_masked() -> None:
    key = "-----BEGIN KEY-----\nAAAAbbbbCCCC\nddddEEEE\n-----END KEY-----\n"
    masker = Masker([key])
    printed = b"line: AAAAbbbbCCCC\nother: ddddEEEE\n"
    out = masker.mask(printed)
    assert b"AAAAbbbbCCCC" not in out and b"ddddEEEE" not in out
    assert masker.mask(key.encode()).count(b"AAAA") == 0


def test_blank_values_and_blank_lines_are_not_patterns() -> None:
    assert secret_patterns(["", "   ", "a\n\n  \nb"]) == [b"a\n\n  \nb", b"a", b"b"]


@pytest.mark.parametrize("cut", range(1, len(SECRET)))
def test_secret_split_across_two_chunks_never_leaks(cut: int) -> None:
    data = f"before {SECRET} after\n".encode()
    split = len(b"before ") + cut
    out = feed_all(Masker([SECRET]), [data[:split], data[split:]])
    assert out == b"before *** after\n"


def test_secret_fed_byte_by_byte_is_held_back_until_decided() -> None:
    data = f"x{SECRET}y{SECRET[:5]}".encode()
    stream = StreamMasker(Masker([SECRET]))
    released = b""
    for i in range(len(data)):
        released += stream.feed(data[i : i + 1])
        if i < len(SECRET):  # while the secret is incomplete, none of it is released
            assert released == b"x"
    released += stream.flush()
    assert released == b"x***y" + SECRET[:5].encode()  # a prefix alone is not the secret


def test_output_without_secrets_passes_through_immediately() -> None:
    stream = StreamMasker(Masker([]))
    assert stream.feed(b"partial line") == b"partial line"
    stream = StreamMasker(Masker([SECRET]))
    assert stream.feed(b"no newline yet") == b"no newline yet"  # nothing resembling the secret is held


def test_longer_secret_wins_over_a_secret_it_contains() -> None:
    masker = Masker(["abc", "xxabcxx"])
    assert masker.mask(b"-xxabcxx-abc-") == b"-***-***-"
