"""PII: each kind found and redacted; ordinary numbers, dates and prices left alone."""

from __future__ import annotations

import pytest

from curation.hygiene.pii import KINDS, PLACEHOLDER, PIIDetector

# One planted value per kind, in a sentence; each is a real-format value (valid Luhn,
# valid IBAN checksum, a well-known token format).
PLANTED = {
    "email": ("Write to jane.doe@example.com for details.", "jane.doe@example.com"),
    "phone": ("Call me on +1 415-555-2671 tomorrow.", "+1 415-555-2671"),
    "ip": ("The server at 192.168.10.24 is down.", "192.168.10.24"),
    "credit_card": ("Charge card 4111 1111 1111 1111 please.", "4111 1111 1111 1111"),
    "iban": ("Pay into DE89 3704 0044 0532 0130 00 today.", "DE89 3704 0044 0532 0130 00"),
    "secret": ("Use key AKIAIOSFODNN7EXAMPLE for the bucket.", "AKIAIOSFODNN7EXAMPLE"),
}
CLEAN = [
    "The meeting is on 2024-03-15 at 10:30, room 204.",
    "A laptop costs $1,299.99 and a phone 849 euros.",
    "Multiply 12345678 by 42 and add 3.14159.",
    "In 1969, 600 million people watched; the population was 3,600,000,000.",
    "Version 2.1.3 fixed issue #4821 on 15/03/2024.",
    "The card number 4111 1111 1111 1112 fails the Luhn check.",
    "Chapter 7, page 123, paragraph 4: the ISBN is 978-3-16-148410-0.",
]


@pytest.fixture(scope="module")
def detector() -> PIIDetector:
    return PIIDetector()


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_found_and_redacted(detector: PIIDetector, kind: str) -> None:
    text, value = PLANTED[kind]
    assert detector.kinds_in([text]) == [kind]
    redacted = detector.redact(text)
    assert value not in redacted
    assert redacted == text.replace(value, PLACEHOLDER[kind])
    assert detector.kinds_in([redacted]) == []


def test_ordinary_numbers_dates_and_prices_are_left_alone(detector: PIIDetector) -> None:
    for text in CLEAN:
        assert detector.spans(text) == [], text
        assert detector.redact(text) == text


def test_several_kinds_in_one_row(detector: PIIDetector) -> None:
    texts = [PLANTED["email"][0], None, PLANTED["iban"][0] + " " + PLANTED["ip"][0]]
    assert detector.kinds_in(texts) == ["email", "ip", "iban"]


def test_only_the_chosen_kinds(detector: PIIDetector) -> None:
    text = PLANTED["email"][0] + " " + PLANTED["phone"][0]
    assert PIIDetector(["phone"]).kinds_in([text]) == ["phone"]
    with pytest.raises(ValueError, match="unknown PII kind"):
        PIIDetector(["passport"])  # type: ignore[list-item]
