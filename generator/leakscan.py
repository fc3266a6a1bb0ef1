"""The leak scan: a build fails if private data or a withheld ticket reaches the output.

Checks on every file written:
- no id of a confidential or hidden ticket appears anywhere (pages, feeds, JSON, CSV);
- the private fields (name, phone, address) of a ticket do not appear in its own page
  and feed, and its phone number in no file that carries its data, after normalising
  digits (full-width, separators, zero-width);
- (full builds) no citizen phone number of any ticket appears in a shared file.
Every byte of a ticket's public data is derived from that ticket, so checking each file
against the tickets it carries covers the whole output without a cost that grows with N.
Pages and feeds are checked by what varies in them (`Output.scan_text`: a page without
its fixed layout, a feed's strings without its fixed XML), not by every byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .redact import PrivateLiterals, contains_private, normalize_digits
from .render import Output
from .state import Withheld

ID_TOKEN = re.compile(r"[A-Z]{2,4}[0-9]{14}")
DIGIT_RUN = re.compile(r"[0-9]{10,}")
# The hash chain's SHA-256 values (64 hex digits, in pages and exports): about one in six
# has a run of ten or more decimal digits, and among a year's million citizen phone
# numbers such a run matches one by chance every few hundred thousand tickets.
HASH_TOKEN = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{64}(?![0-9a-fA-F])")
# Characters normalize_digits folds or drops; plain text skips the (slower) fold.
# (Chinese-numeral numbers are caught on the ticket's own pages by the per-ticket check.)
_NEEDS_FOLD = re.compile("[\uff10-\uff19\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")
_DIGIT_SEP = re.compile(r"(?<=[0-9])[ \t\-./\\_()]{1,4}(?=[0-9])")


class LeakError(RuntimeError):
    """The build would publish private data; nothing was published."""


@dataclass
class LeakScanner:
    withheld: set[str] | Withheld  # a set, or the state's table (incremental builds)
    literals: dict[str, PrivateLiterals] = field(default_factory=dict)
    phones: set[str] = field(default_factory=set)  # digits of private phones, >= 10 digits (full builds)
    findings: list[str] = field(default_factory=list)

    def check(self, out: Output) -> None:
        text = out.scan_text
        if self.withheld:
            for token in sorted(self.withheld & set(ID_TOKEN.findall(text))):
                self.findings.append(f"{out.path}: id of withheld ticket {token}")
        shared = len(out.ids) > 1
        for tid in out.ids:
            lit = self.literals.get(tid)
            if lit is not None:
                if shared:
                    # Names and addresses are not unique: another ticket on a listing may
                    # rightly mention the same name. Phone numbers are: they are checked
                    # everywhere, names and addresses on the ticket's own outputs.
                    lit = PrivateLiterals(phones=lit.phones)
                for value in contains_private(text, lit):
                    self.findings.append(f"{out.path}: private field of {tid} ({_mask(value)})")
        if self.phones:
            folded = normalize_digits(text) if _NEEDS_FOLD.search(text) else _DIGIT_SEP.sub("", text)
            plain = HASH_TOKEN.sub(" ", ID_TOKEN.sub(" ", folded))
            for run in set(DIGIT_RUN.findall(plain)):
                for n in (10, 11, 12):
                    for i in range(len(run) - n + 1):
                        if run[i : i + n] in self.phones:
                            self.findings.append(f"{out.path}: a citizen's phone number ({_mask(run[i:i+n])})")

    def raise_if_found(self) -> None:
        if self.findings:
            head = "; ".join(self.findings[:5])
            more = f" (and {len(self.findings) - 5} more)" if len(self.findings) > 5 else ""
            raise LeakError(f"leak scan found private data in the output: {head}{more}")


def _mask(value: str) -> str:
    """Say which value leaked without printing it in full (logs are not private)."""
    return value[:1] + "…" + f"[{len(value)}]"


def phone_digits(value: str | None) -> str | None:
    if not value:
        return None
    digits = "".join(ch for ch in normalize_digits(value) if ch.isdigit())
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    # Only numbers long enough to be unique (mobiles, landlines with area code) are
    # checked globally; shorter ones are checked on the ticket's own pages.
    return digits if len(digits) >= 10 else None
