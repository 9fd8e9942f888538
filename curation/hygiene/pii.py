"""Personal data and secrets in text: find them, and replace them with a placeholder per kind.

Two well-kept detectors, used without any model:
- Presidio's pattern recognizers (presidio-analyzer) for emails, phone numbers (Google's
  libphonenumber), IP addresses (checked by `ipaddress`), credit-card numbers (Luhn
  check) and IBANs (checksum). No spaCy model is loaded: pattern recognizers need none.
- detect-secrets' token plugins (Yelp) for API keys, tokens and private keys of known
  formats (AWS, GitHub, GitLab, OpenAI, Stripe, Slack, JWT, PyPI, npm, ...). Its
  entropy and keyword plugins are left out: they flag ordinary hashes and prose.

A kind is found when a recognizer's score reaches `min_score` (Presidio gives a bare
pattern match 0.1-0.6, a validated one 1.0); where spans overlap, one wins
(`PIIDetector.spans`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

PIIKind = Literal["email", "phone", "ip", "credit_card", "iban", "secret"]
KINDS: tuple[PIIKind, ...] = ("email", "phone", "ip", "credit_card", "iban", "secret")
PRIORITY: tuple[PIIKind, ...] = ("secret", "email", "credit_card", "iban", "ip", "phone")
PLACEHOLDER: dict[PIIKind, str] = {
    "email": "<EMAIL>",
    "phone": "<PHONE>",
    "ip": "<IP_ADDRESS>",
    "credit_card": "<CREDIT_CARD>",
    "iban": "<IBAN>",
    "secret": "<SECRET>",
}
PRESIDIO_ENTITY: dict[PIIKind, str] = {
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "ip": "IP_ADDRESS",
    "credit_card": "CREDIT_CARD",
    "iban": "IBAN_CODE",
}
# libphonenumber's matcher takes ~7 ms a text over Presidio's 8 regions; a text without
# 7 digits in a row (spaces, dots, dashes, brackets between) cannot hold a phone number.
MAYBE_PHONE = re.compile(r"\d(?:[\s().\-/]{0,3}\d){6,}")
SECRET_PLUGINS = (
    "artifactory.ArtifactoryDetector",
    "aws.AWSKeyDetector",
    "azure_storage_key.AzureStorageKeyDetector",
    "basic_auth.BasicAuthDetector",
    "discord.DiscordBotTokenDetector",
    "github_token.GitHubTokenDetector",
    "gitlab_token.GitLabTokenDetector",
    "jwt.JwtTokenDetector",
    "mailchimp.MailchimpDetector",
    "npm.NpmDetector",
    "openai.OpenAIDetector",
    "private_key.PrivateKeyDetector",
    "pypi_token.PypiTokenDetector",
    "sendgrid.SendGridDetector",
    "slack.SlackDetector",
    "stripe.StripeDetector",
    "telegram_token.TelegramBotTokenDetector",
    "twilio.TwilioKeyDetector",
)


@dataclass(frozen=True)
class Span:
    kind: PIIKind
    start: int
    end: int


@cache
def _recognizers() -> dict[PIIKind, object]:
    """Presidio's recognizers, built once (the email one checks domains offline)."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
    )

    # The default extractor downloads the public suffix list; the bundled snapshot serves.
    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return offline(pattern_text.rpartition("@")[2]).fqdn != ""

    return {
        "email": OfflineEmailRecognizer(),
        "phone": PhoneRecognizer(),
        "ip": IpRecognizer(),
        "credit_card": CreditCardRecognizer(),
        "iban": IbanRecognizer(),
    }


@cache
def _secret_plugins() -> tuple[object, ...]:
    from importlib import import_module

    plugins = []
    for path in SECRET_PLUGINS:
        module, name = path.rsplit(".", 1)
        plugins.append(getattr(import_module(f"detect_secrets.plugins.{module}"), name)())
    return tuple(plugins)


class PIIDetector:
    """Finds the chosen kinds in a text; `redact` puts a placeholder in their place."""

    def __init__(self, kinds: Iterable[PIIKind] = KINDS, min_score: float = 0.3) -> None:
        self.kinds = tuple(kinds)
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown PII kind(s): {', '.join(sorted(unknown))}")
        self.min_score = min_score

    def spans(self, text: str | None) -> list[Span]:
        """Non-overlapping spans in text order.

        Of two overlapping spans the longer wins; on a tie the stricter kind (`PRIORITY`:
        libphonenumber also reads an IP address or an IBAN's digits as a phone number).
        """
        if not text:
            return []
        found = [*self._presidio(text), *self._secrets(text)]
        found.sort(key=lambda span: (span.start - span.end, PRIORITY.index(span.kind), span.start))
        kept: list[Span] = []
        for span in found:
            if all(span.end <= other.start or span.start >= other.end for other in kept):
                kept.append(span)
        return sorted(kept, key=lambda span: span.start)

    def _presidio(self, text: str) -> list[Span]:
        recognizers = _recognizers()
        spans = []
        for kind in self.kinds:
            if kind == "secret" or (kind == "phone" and not MAYBE_PHONE.search(text)):
                continue
            results = recognizers[kind].analyze(text, [PRESIDIO_ENTITY[kind]], None)
            spans += [Span(kind, r.start, r.end) for r in results if r.score >= self.min_score]
        return spans

    def _secrets(self, text: str) -> list[Span]:
        if "secret" not in self.kinds:
            return []
        spans = []
        for plugin in _secret_plugins():
            for value in plugin.analyze_string(text):
                start = text.find(value)
                while start >= 0:
                    spans.append(Span("secret", start, start + len(value)))
                    start = text.find(value, start + len(value))
        return spans

    def kinds_in(self, texts: Sequence[str | None]) -> list[str]:
        """The kinds found in any of the texts, in `KINDS` order."""
        found = {span.kind for text in texts for span in self.spans(text)}
        return [kind for kind in KINDS if kind in found]

    def redact(self, text: str | None) -> str | None:
        """The text with every span replaced by its kind's placeholder."""
        if not text:
            return text
        for span in reversed(self.spans(text)):
            text = text[: span.start] + PLACEHOLDER[span.kind] + text[span.end :]
        return text
