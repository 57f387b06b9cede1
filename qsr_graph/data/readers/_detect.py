"""Recognising published formats and separators from a header line."""
from __future__ import annotations

#: Header columns that identify each published file type: the format name to
#: pass to ``read_events`` (``None`` for files that no reader reads), a
#: description, and the columns that must all be present.
SIGNATURES: tuple[tuple[str | None, str, frozenset[str]], ...] = (
    ("trivago", "a trivago RecSys 2019 session log",
     frozenset({"user_id", "session_id", "timestamp", "step", "action_type", "reference"})),
    ("bestbuy", "a Best Buy search-click CSV",
     frozenset({"user", "sku", "query", "click_time", "query_time"})),
    ("diginetica", "a Diginetica train-queries.csv",
     frozenset({"queryId", "sessionId", "userId", "timeframe", "eventdate",
                "searchstring.tokens"})),
    ("diginetica", "a Diginetica train-item-views.csv",
     frozenset({"sessionId", "userId", "itemId", "timeframe", "eventdate"})),
    ("diginetica", "a Diginetica train-clicks.csv",
     frozenset({"queryId", "timeframe", "itemId"})),
    (None, "a Diginetica train-purchases.csv, which no reader uses",
     frozenset({"sessionId", "userId", "timeframe", "eventdate", "ordernumber", "itemId"})),
    (None, "a Diginetica products.csv, which no reader uses",
     frozenset({"itemId", "pricelog2", "product.name.tokens"})),
    (None, "a Diginetica product-categories.csv, which no reader uses",
     frozenset({"itemId", "categoryId"})),
    ("unsplash", "an Unsplash conversions file",
     frozenset({"converted_at", "conversion_type", "keyword", "photo_id",
                "anonymous_user_id"})),
)

#: Separators tried when a header does not split into the expected columns.
SEPARATORS = (",", ";", "\t", "|")

_SEPARATOR_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def separator_name(separator: str) -> str:
    """Return a readable plural name such as ``"semicolons"`` for a separator."""
    return _SEPARATOR_NAMES.get(separator, repr(separator))


def guess_format(header_line: str) -> tuple[str | None, str] | None:
    """Return ``(format, description)`` of the published file type a header belongs to.

    The header is split on every separator of :data:`SEPARATORS`. More specific
    signatures win, so a train-purchases.csv is not mistaken for item views.

    Returns:
        ``None`` when no signature matches.
    """
    best: tuple[int, str | None, str] | None = None
    for separator in SEPARATORS:
        names = {name.strip().strip('"') for name in header_line.split(separator)}
        for fmt, description, columns in SIGNATURES:
            if columns <= names and (best is None or len(columns) > best[0]):
                best = (len(columns), fmt, description)
    if best is None:
        return None
    return best[1], best[2]


def find_separator(header_line: str, expected: str, columns: list[str]) -> str | None:
    """Return the separator a header really uses when it is not ``expected``.

    A header that splits on ``expected`` into one field, but into several on
    another separator, uses that other separator. ``columns`` (the columns the
    reader needs) decide between candidates when more than one splits.

    Returns:
        ``None`` when the header splits on ``expected`` or on no other separator.
    """
    if len(header_line.split(expected)) > 1:
        return None
    candidates = [s for s in SEPARATORS if s != expected and len(header_line.split(s)) > 1]
    for separator in candidates:
        if set(columns) <= {name.strip('"') for name in header_line.split(separator)}:
            return separator
    return candidates[0] if candidates else None
