"""Column roles: which columns of a table are the target, numbers, categories, dates, or
left out, and why.

:func:`decide_roles` looks at the whole table once, at ``train``, and returns one
:class:`ColumnRole` per column.  The rules (docs/data.md):

* **excluded**, with the reason: ``--exclude``; the ``--id-column``; pandas' unnamed
  index column (``""``, ``Unnamed: 0``); a constant column; an ID — integers
  ``0..n−1`` or ``1..n`` one per row, a name like ``id``/``user_id``, or text unique
  per row; free text (distinct values in more than half the rows) in which no word
  is frequent;
* **text**: free text with frequent words (``--text`` forces it): a bag of words, one
  0/1 input per word found in at least :data:`MIN_WORD_ROWS` rows (and 1 % of them)
  of the training split, at most :data:`MAX_WORDS` per column (:func:`frequent_words`);
* **date**: ISO 8601 dates or times (or any column named with ``--date``): becomes
  year, month, day of year and weekday as sin/cos, and the hour when present;
* **numeric**: numbers, also with thousands separators (``1,037.25``) or a decimal
  comma (``--decimal ,``), parsed as numbers; a column of mostly numbers with a few
  words in it is an error naming the first word (never silently one-hot encoded);
* **categorical**: the other text columns, and numeric columns named with
  ``--categorical``: one-hot, 0/1, not scaled.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import numpy as np

from .datasets import Dataset
from .text_column import TextColumn

__all__ = [
    "ROLES",
    "ColumnRole",
    "ColumnStats",
    "RolesError",
    "TableStats",
    "column_stats",
    "date_features",
    "decide_roles",
    "describe_roles",
    "frequent_words",
    "parse_dates",
    "parse_numbers",
    "table_stats",
    "vocabulary",
    "word_counts",
    "words_of",
]

#: The roles a column may have.
ROLES = ("target", "numeric", "categorical", "date", "text", "excluded")

#: Tables smaller than this are too small to call a column free text or an ID by its
#: distinct values (a 10-row table's labels are often all different).
MIN_ROWS_FOR_HEURISTICS = 20

_ISO_DATE = re.compile(
    r"^\d{4}([-/])\d{2}\1\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)
_SLASHED = re.compile(r"^(\d{4})/(\d{2})/(\d{2})")
_ID_NAME = re.compile(r"^(id|.*[_\s.-]id|.*[a-z]ID|.*[a-z]Id|index|key|uuid)$", re.IGNORECASE)
_UNNAMED = re.compile(r"^(Unnamed: \d+|index|level_0)$")
_WORD = re.compile(r"[^\W_]+")  # letters and digits (any script); the rest separates words

#: A word enters a text column's vocabulary when it occurs in at least this many
#: training rows, and in at least :data:`MIN_WORD_SHARE` of them.
MIN_WORD_ROWS = 5
MIN_WORD_SHARE = 0.01
#: At most this many words per text column (the most frequent; ties alphabetical).
MAX_WORDS = 50


class RolesError(ValueError):
    """A column whose role cannot be decided as asked (one line, naming it)."""


@dataclass
class ColumnRole:
    """The role of one column of a table.

    Attributes
    ----------
    name : str
    role : {"target", "numeric", "categorical", "date", "text", "excluded"}
    reason : str
        Why (``"--exclude"``, ``"unique per row (an ID)"``, ``"ISO 8601 dates"``, …).
    parse : str or None
        For a numeric column read as text: ``"thousands"`` (``1,037.25``) or
        ``"decimal"`` (``3,5``).
    words : list of str or None
        For a text column named with ``--text COL=w1,w2``: its vocabulary, exactly
        (None: the frequent words of the training split).
    """

    name: str
    role: str
    reason: str = ""
    parse: str | None = None
    words: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain values for the model file."""
        doc: dict[str, Any] = {
            "name": self.name,
            "role": self.role,
            "reason": self.reason,
            "parse": self.parse,
        }
        if self.words is not None:
            doc["words"] = list(self.words)
        return doc

    @classmethod
    def from_json(cls, doc: object) -> ColumnRole:
        """Rebuild from :meth:`to_json`; ValueError if malformed."""
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("name"), str)
            or doc.get("role") not in ROLES
        ):
            raise ValueError(f"bad column role {doc!r}"[:120])
        parse = doc.get("parse")
        if parse not in (None, "thousands", "decimal"):
            raise ValueError(f"column {doc['name']!r}: unknown parse {parse!r}")
        words = doc.get("words")
        if words is not None and (doc["role"] != "text" or bad_words(words)):
            raise ValueError(
                f"column {doc['name']!r}: bad words {words!r}"[:120]
                + (f" ({bad_words(words)})" if doc["role"] == "text" else " (not a text column)")
            )
        return cls(doc["name"], doc["role"], str(doc.get("reason") or ""), parse, words)


def words_of(cell: str) -> list[str]:
    """The words of a text cell: lower-cased, split on anything not a letter or digit.

    >>> words_of("Chevrolet Chevelle-Malibu (sw)")
    ['chevrolet', 'chevelle', 'malibu', 'sw']
    """
    return _WORD.findall(cell.lower())


def bad_words(words: object) -> str:
    """Why ``words`` is no vocabulary (``""`` when it is one): a list of distinct
    lower-case words as :func:`words_of` splits them."""
    if not isinstance(words, list):
        return "not a list"
    for i, w in enumerate(words):
        if not isinstance(w, str) or words_of(w) != [w]:
            return f"{w!r} is not one lower-case word"
        if w in words[:i]:
            return f"{w!r} is listed twice"
    return ""


def word_counts(cells: np.ndarray | TextColumn) -> dict[str, int]:
    """In how many of the cells (text, ``""`` where missing) each word occurs (its
    document frequency).  What ranks split among them must add up (MPI)."""
    values, counts = _present(cells)
    return _word_counts(values, counts)


def _word_counts(values: np.ndarray, counts: np.ndarray) -> dict[str, int]:
    """:func:`word_counts` from the distinct cells and how often each occurs."""
    out: dict[str, int] = {}
    for value, count in zip(values.tolist(), counts.tolist(), strict=True):
        for word in set(words_of(value)):
            out[word] = out.get(word, 0) + count
    return out


def frequent_words(cells: np.ndarray | TextColumn, *, max_words: int = MAX_WORDS) -> list[str]:
    """A text column's vocabulary: its most frequent words, most frequent first.

    A word is kept when it occurs in at least ``max(MIN_WORD_ROWS, 1 % of the rows)``
    of ``cells`` (shape (n,), ``""`` where missing) but not in every cell that has
    text (a word everywhere tells nothing); at most ``max_words``, ties alphabetical.
    """
    return vocabulary(word_counts(cells), len(cells), int((cells != "").sum()), max_words)


def vocabulary(
    counts: Mapping[str, int], n_rows: int, n_present: int, max_words: int = MAX_WORDS
) -> list[str]:
    """:func:`frequent_words` from its statistics: :func:`word_counts` of the rows, their
    number, and the number with text (ranks that each read some of the rows add up
    theirs and get the same vocabulary)."""
    least = max(MIN_WORD_ROWS, math.ceil(MIN_WORD_SHARE * n_rows))
    kept = sorted((-c, w) for w, c in counts.items() if least <= c < n_present)
    return [w for _, w in kept[:max_words]]


def _is_date(cell: str) -> bool:
    """Whether :func:`parse_dates` reads ``cell``."""
    try:
        parse_dates(np.array([cell]))
    except ValueError:
        return False
    return True


def _thousands_pattern(decimal: str) -> re.Pattern[str]:
    sep, mark = ("\\.", ",") if decimal == "," else (",", "\\.")
    return re.compile(rf"^[+-]?(\d{{1,3}}({sep}\d{{3}})+|\d+)({mark}\d+)?$")


def parse_numbers(cells: np.ndarray | TextColumn, parse: str, decimal: str = ".") -> np.ndarray:
    """Text cells with thousands separators or a decimal comma as floats (NaN where ``""``).

    Raises
    ------
    ValueError
        Naming the first cell that is not such a number (its row index in ``args[1]``).
    """
    if isinstance(cells, TextColumn):  # each distinct cell once
        return _per_value(cells, lambda v: parse_numbers(v, parse, decimal), np.nan)
    sep, mark = (".", ",") if (parse == "decimal" or decimal == ",") else (",", ".")
    out = np.full(len(cells), np.nan)
    for i, cell in enumerate(cells.tolist()):
        if not cell:
            continue
        text = cell.replace(sep, "") if parse == "thousands" else cell
        try:
            out[i] = float(text.replace(mark, ".") if mark != "." else text)
        except ValueError:
            raise ValueError(f"{cell[:40]!r} is not a number", i) from None
    return out


def parse_dates(cells: np.ndarray | TextColumn) -> np.ndarray:
    """ISO 8601 text (also ``2012/01/31``) → ``datetime64[s]`` (NaT where ``""``).

    Raises
    ------
    ValueError
        ``(message, row)`` for the first cell that is not a date.
    """
    from datetime import datetime

    if isinstance(cells, TextColumn):  # each distinct cell once
        return _per_value(cells, parse_dates, np.datetime64("NaT", "s"))
    out = np.full(len(cells), np.datetime64("NaT"), dtype="datetime64[s]")
    for i, cell in enumerate(cells.tolist()):
        if not cell:
            continue
        text = _SLASHED.sub(r"\1-\2-\3", cell)  # 2012/01/31, as many exports write it
        try:
            stamp = datetime.fromisoformat(
                text.replace("Z", "+00:00") if text.endswith("Z") else text
            )
        except ValueError:
            raise ValueError(f"{cell[:40]!r} is not an ISO 8601 date or time", i) from None
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(UTC).replace(tzinfo=None)
        out[i] = np.datetime64(stamp.replace(microsecond=0), "s")
    return out


#: The features a date column becomes; the ``hour`` pair only when times are present.
DATE_FEATURES = ("year", "month_sin", "month_cos", "yday_sin", "yday_cos", "wday_sin", "wday_cos")
HOUR_FEATURES = ("hour_sin", "hour_cos")


def _per_value(
    cells: TextColumn, parse: Callable[[np.ndarray], np.ndarray], empty: Any
) -> np.ndarray:
    """``parse`` (a per-cell parser raising ``ValueError(message, index)``) applied to
    the distinct values that some row of ``cells`` takes, spread to the rows; the
    index of a ``ValueError`` is made the first row holding the bad value."""
    used = np.flatnonzero(cells.counts())
    try:
        parsed = parse(cells.values[used])
    except ValueError as exc:
        which = np.zeros(len(cells.values), dtype=bool)
        which[used[exc.args[1]]] = True
        raise ValueError(exc.args[0], cells.first_row(which)) from None
    out = np.full(len(cells.values), empty, dtype=parsed.dtype)
    out[used] = parsed
    return cells.per_value(out)


def _present(cells: np.ndarray | TextColumn) -> tuple[np.ndarray, np.ndarray]:
    """The distinct present (non-``""``) cells, sorted, and how often each occurs."""
    if isinstance(cells, TextColumn):
        return cells.present()
    cells = np.asarray(cells)
    values, counts = np.unique(cells[cells != ""], return_counts=True)
    return values, counts


def date_features(stamps: np.ndarray, derived: Sequence[str]) -> np.ndarray:
    """The numeric features ``derived`` of ``datetime64[s]`` stamps, shape (n, len(derived)).

    The year is a number (fractional: 2020.5 is mid-2020); month, day of year, weekday
    and hour are angles on their circles (sin, cos), so December sits next to January.
    """
    days = stamps.astype("datetime64[D]")
    years = stamps.astype("datetime64[Y]")
    year = years.astype(np.int64) + 1970
    month = (stamps.astype("datetime64[M]").astype(np.int64) % 12).astype(np.float64)
    yday = (days - years.astype("datetime64[D]")).astype(np.float64)
    wday = ((days.astype(np.int64) + 3) % 7).astype(np.float64)  # Monday 0
    seconds = (stamps - days.astype("datetime64[s]")).astype(np.float64)
    hour = seconds / 3600.0
    two_pi = 2.0 * np.pi
    values = {
        "year": year + yday / 365.25,
        "month_sin": np.sin(two_pi * month / 12),
        "month_cos": np.cos(two_pi * month / 12),
        "yday_sin": np.sin(two_pi * yday / 365.25),
        "yday_cos": np.cos(two_pi * yday / 365.25),
        "wday_sin": np.sin(two_pi * wday / 7),
        "wday_cos": np.cos(two_pi * wday / 7),
        "hour_sin": np.sin(two_pi * hour / 24),
        "hour_cos": np.cos(two_pi * hour / 24),
    }
    out = np.column_stack([values[d] for d in derived]) if derived else np.empty((len(stamps), 0))
    out[np.isnat(stamps)] = np.nan
    return out


def _cells(data: Dataset, j: int) -> TextColumn | np.ndarray:
    """Column ``j`` of ``data`` as text, ``""`` where missing: a text column as its
    :class:`TextColumn`, a numeric one as an array of ``str`` (``tables._cells`` calls
    this; roles never imports tables, which imports roles)."""
    from .files import _numbers_as_text

    return data.text[j] if j in data.text else _numbers_as_text(data.X[:, j])


@dataclass
class ColumnStats:
    """What a column's automatic role is decided from, for some of a table's rows.

    The parts of a table (the row ranges that MPI ranks read) each describe their rows
    with :func:`column_stats`; :meth:`merge` gives the whole table's, exactly: roles
    decided from merged statistics are those of one process reading every row.

    Attributes
    ----------
    text : bool
        A text column (its cells kept as written), else numbers.
    n_present : int
        Cells that are not missing.
    values : ndarray of shape (k,)
        The distinct present values, sorted: the cells of a text column; the numbers of
        a numeric column only when every one is an integer (else empty).
    counts : ndarray of int64, shape (k,)
        For a text column, how often each value occurs (empty for numbers).
    low, high : float
        A numeric column's smallest and largest present value (NaN when none).
    integral : bool
        Every present number is an integer.
    """

    text: bool
    n_present: int
    values: np.ndarray
    counts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    low: float = float("nan")
    high: float = float("nan")
    integral: bool = True

    @classmethod
    def merge(cls, parts: Sequence[ColumnStats]) -> ColumnStats:
        """The statistics of the union of disjoint parts' rows (all text, or all numbers)."""
        if len({p.text for p in parts}) > 1:
            raise ValueError("cannot merge the statistics of a text and a numeric column")
        n_present = sum(p.n_present for p in parts)
        if parts[0].text:
            every = np.concatenate([p.values for p in parts])
            values, which = np.unique(every, return_inverse=True)
            counts = np.bincount(
                which.reshape(-1),
                weights=np.concatenate([p.counts for p in parts]).astype(np.float64),
                minlength=len(values),
            ).astype(np.int64)
            return cls(True, n_present, values, counts)
        seen = [p for p in parts if p.n_present]
        integral = all(p.integral for p in seen)
        values = (
            np.unique(np.concatenate([p.values for p in seen]))
            if integral and seen
            else np.empty(0)
        )
        low = min((p.low for p in seen), default=float("nan"))
        high = max((p.high for p in seen), default=float("nan"))
        return cls(False, n_present, values, low=low, high=high, integral=integral)


def table_stats(data: Dataset) -> list[ColumnStats]:
    """:func:`column_stats` of every column of ``data``.

    The numeric columns whose first rows hold a fraction (so: not integral, no distinct
    values to list) are summarised together, in one pass over the rows for each of the
    count, the minimum and the maximum — not three strided passes per column.
    """
    k = data.X.shape[1]
    head = data.X[:1024]
    settled = [j for j in range(k) if j not in data.text and _fraction(head[:, j])]
    out: dict[int, ColumnStats] = {}
    if settled:
        X = data.X
        present = np.count_nonzero(~np.isnan(X), axis=0)
        low, high = np.fmin.reduce(X, axis=0), np.fmax.reduce(X, axis=0)  # (NaN ignored)
        for j in settled:
            out[j] = ColumnStats(
                False,
                int(present[j]),
                np.empty(0),
                low=float(low[j]),
                high=float(high[j]),
                integral=False,
            )
    return [out[j] if j in out else column_stats(data, j) for j in range(k)]


def _fraction(values: np.ndarray) -> bool:
    """Whether some present value is not a whole number."""
    values = values[~np.isnan(values)]
    return bool(values.size) and not bool(np.all(values == np.round(values)))


def column_stats(data: Dataset, j: int) -> ColumnStats:
    """The :class:`ColumnStats` of column ``j`` of ``data`` (all its rows)."""
    if j in data.text:
        values, counts = data.text[j].present()
        return ColumnStats(True, int(counts.sum()), values, counts.astype(np.int64))
    col = data.X[:, j]
    if _fraction(col[:1024]):
        # A fraction among the first rows: not integral, so no distinct values to list
        # (no copy, sort or rounding of a million rows; the same statistics).
        missing = int(np.isnan(col).sum())
        low, high = float(np.nanmin(col)), float(np.nanmax(col))
        return ColumnStats(
            False, col.size - missing, np.empty(0), low=low, high=high, integral=False
        )
    present = col[~np.isnan(col)]
    if present.size == 0:
        return ColumnStats(False, 0, np.empty(0))
    integral = bool(np.all(present == np.round(present)))
    values = np.unique(present) if integral else np.empty(0)  # (no sort of a million floats)
    low, high = float(present.min()), float(present.max())
    return ColumnStats(False, int(present.size), values, low=low, high=high, integral=integral)


#: Where the first present cell of column ``j`` that is none of ``values`` stands, and the
#: cell: ``("line 7", "n/a?")`` (for the message about a numeric column with words in it).
Locate = Callable[[int, np.ndarray], tuple[str, str]]


@dataclass
class TableStats:
    """A whole table's :class:`ColumnStats`, for :func:`decide_roles` to decide from when
    no process holds every row (``chainrule.parallel.table_shard``).

    Attributes
    ----------
    columns : list of ColumnStats
        One per feature column, merged over every part of the table.
    n : int
        The table's rows.
    locate : callable
        :data:`Locate` over the whole table.
    """

    columns: list[ColumnStats]
    n: int
    locate: Locate


def _locate_in(data: Dataset) -> Locate:
    def locate(j: int, values: np.ndarray) -> tuple[str, str]:
        cells = TextColumn.from_cells(_cells(data, j))
        first = cells.first_row(~np.isin(cells.values, values) & (cells.values != ""))
        assert first is not None
        return data.where(first), str(cells[first])

    return locate


def decide_roles(
    data: Dataset,
    *,
    exclude: Iterable[str] = (),
    categorical: Iterable[str] = (),
    dates: Iterable[str] = (),
    id_column: str | None = None,
    decimal: str = ".",
    text: Iterable[str] = (),
    stats: TableStats | None = None,
) -> list[ColumnRole]:
    """One role per feature column of ``data`` (the target is not among them).

    ``text``: the ``--text`` entries, ``COL`` (a bag of its frequent words, whatever the
    column would otherwise be) or ``COL=w1,w2,…`` (exactly these words).

    ``stats``, when given, describes the whole table of which ``data`` holds some rows
    (an MPI rank's): the automatic roles are decided from it, and ``--date`` columns are
    checked in ``data``'s rows (each part checks its own).

    Raises
    ------
    RolesError
        A column named in an option that the table does not have, named in two options,
        or a ``--date`` column that does not parse; a column that looks numeric but holds
        words; a ``--text`` word list that is not lower-case words.
    """
    names = list(data.feature_names)
    forced = _text_option(data, names, text)
    asked = {
        "--exclude": list(exclude),
        "--categorical": list(categorical),
        "--date": list(dates),
        "--id-column": [id_column] if id_column else [],
        "--text": list(forced),
    }
    seen: dict[str, str] = {}
    option: str | None
    for option, cols in asked.items():
        for col in cols:
            assert col is not None
            if col not in names:
                what = "the target" if col == data.target_name else "not a column of the table"
                raise RolesError(
                    f"{data.name}: {option} {col!r}: {what} (columns: "
                    f"{', '.join(repr(n) for n in names[:12])}"
                    f"{' …' if len(names) > 12 else ''})"
                )
            if col in seen and not {seen[col], option} <= {"--exclude", "--id-column"}:
                raise RolesError(
                    f"{data.name}: column {col!r} is named by both {seen[col]} and {option}"
                )
            seen[col] = option
    n = len(data.X) if stats is None else stats.n
    every: list[ColumnStats] | None = None  # (computed when a column needs them)
    roles = []
    for j, name in enumerate(names):
        option = seen.get(name)
        if option in ("--exclude", "--id-column"):
            reason = (
                "--id-column (carried to predict's output)"
                if option == "--id-column"
                else "--exclude"
            )
            roles.append(ColumnRole(name, "excluded", reason))
            continue
        if option == "--categorical":
            roles.append(ColumnRole(name, "categorical", "--categorical"))
            continue
        if option == "--text":
            roles.append(ColumnRole(name, "text", "--text", words=forced[name]))
            continue
        if option == "--date":
            try:
                parse_dates(_cells(data, j))
            except ValueError as exc:
                raise RolesError(
                    f"{data.name}: --date {name!r}: {data.where(exc.args[1])}: {exc.args[0]}"
                ) from None
            roles.append(ColumnRole(name, "date", "--date"))
            continue
        if stats is not None:
            s = stats.columns[j]
            roles.append(_automatic(data.name, name, s, n, decimal, j, stats.locate))
        else:
            if every is None:
                every = table_stats(data)
            roles.append(_automatic(data.name, name, every[j], n, decimal, j, _locate_in(data)))
    return roles


def _text_option(
    data: Dataset, names: list[str], entries: Iterable[str]
) -> dict[str, list[str] | None]:
    """``--text`` entries → column name → its forced words (None: the frequent ones)."""
    out: dict[str, list[str] | None] = {}
    for entry in entries:
        if entry in names or "=" not in entry:
            out[entry] = None  # (a column the table lacks is named by decide_roles)
            continue
        name, listed = entry.split("=", 1)
        words = [w.strip().lower() for w in listed.split(",") if w.strip()]
        why = bad_words(words) or ("no words" if not words else "")
        if why:
            raise RolesError(
                f"{data.name}: --text {entry!r}: {why} (give COL=word,word,… with "
                f"words of letters and digits, as the column is split)"
            )
        out[name] = words
    return out


def _some_frequent_word(s: ColumnStats, n: int) -> bool:
    """Whether a text column (statistics ``s`` of an ``n``-row table) has a frequent word."""
    return bool(vocabulary(_word_counts(s.values, s.counts), n, s.n_present, max_words=1))


def _as_text(name: str, s: ColumnStats, why: str, n: int) -> ColumnRole:
    """A free-text column: text when some word is frequent, else excluded."""
    if _some_frequent_word(s, n):
        return ColumnRole(name, "text", why)
    least = max(MIN_WORD_ROWS, math.ceil(MIN_WORD_SHARE * n))
    return ColumnRole(name, "excluded", f"{why}, no word in {least} rows or more")


def _automatic(
    data_name: str, name: str, s: ColumnStats, n: int, decimal: str, j: int, locate: Locate
) -> ColumnRole:
    """The role of column ``j`` (named ``name``) of an ``n``-row table from its statistics."""
    if name == "" or _UNNAMED.match(name):
        return ColumnRole(name, "excluded", "an unnamed index column (as pandas writes one)")
    big = n >= MIN_ROWS_FOR_HEURISTICS
    if not s.text:
        if s.n_present == 0 or s.low == s.high:
            return ColumnRole(name, "excluded", "constant" if s.n_present else "empty")
        integral = s.integral
        if not integral:
            return ColumnRole(name, "numeric")
        distinct = s.values
        if (
            integral
            and big
            and s.n_present == n
            and len(distinct) == n
            and distinct[0] in (0, 1)
            and distinct[-1] - distinct[0] == n - 1
        ):
            return ColumnRole(
                name,
                "excluded",
                f"an ID (the integers {int(distinct[0])}..{int(distinct[-1])}, one per row)",
            )
        if integral and big and _ID_NAME.match(name) and len(distinct) > n // 2:
            return ColumnRole(name, "excluded", "an ID (by its name, with a value per row)")
        return ColumnRole(name, "numeric")
    distinct = s.values
    if len(distinct) <= 1:
        return ColumnRole(name, "excluded", "constant" if len(distinct) else "empty")
    if all(_ISO_DATE.match(v) for v in distinct[:200].tolist()) and all(
        _ISO_DATE.match(v) for v in distinct.tolist()
    ):
        try:  # shaped like dates: each must also be one (not 2020-13-45)
            parse_dates(distinct)
        except ValueError:
            where, cell = locate(j, distinct[[_is_date(v) for v in distinct.tolist()]])
            raise RolesError(
                f"{data_name}: {where}, column {name!r}: {cell[:40]!r} is not an ISO 8601 "
                f"date or time, though the column's other cells look like dates (fix the "
                f"cell, or say --categorical {name} or --exclude {name})"
            ) from None
        return ColumnRole(name, "date", "ISO 8601 dates")
    pattern = _thousands_pattern(decimal)
    numeric = np.array([bool(pattern.match(v)) for v in distinct.tolist()])
    if numeric.all():
        parse = (
            "decimal"
            if decimal == "," and not any(("." in v) for v in distinct.tolist())
            else "thousands"
        )
        why = (
            "a decimal comma"
            if parse == "decimal"
            else "thousands separators"
            if decimal == "."
            else "'.' thousands separators"
        )
        return ColumnRole(name, "numeric", f"numbers with {why}", parse)
    share = float(s.counts[numeric].sum() / s.n_present) if numeric.any() else 0.0
    if share >= 0.5:
        where, cell = locate(j, distinct[numeric])
        raise RolesError(
            f"{data_name}: {where}, column {name!r}: "
            f"{cell[:40]!r} is not a number, though "
            f"{share:.0%} of the column's cells are (fix the cell, or say "
            f"--categorical {name} or --exclude {name})"
        )
    if big and len(distinct) == s.n_present == n:
        # Words (a name "Braund, Mr. Owen Harris"), not a key ("K-10293"): spaces in most.
        spaced = float(np.mean([" " in v for v in distinct.tolist()]))
        if spaced >= 0.5 and not _ID_NAME.match(name) and _some_frequent_word(s, n):
            return ColumnRole(name, "text", f"unique per row, words in {spaced:.0%} of them")
        return ColumnRole(name, "excluded", "unique per row (an ID or key)")
    if big and _ID_NAME.match(name) and len(distinct) > n // 2:
        return ColumnRole(name, "excluded", "an ID (by its name, with a value per row)")
    if big and len(distinct) > n / 2:
        return _as_text(name, s, f"free text ({len(distinct)} distinct values in {n} rows)", n)
    return ColumnRole(name, "categorical", f"{len(distinct)} categories")


def describe_roles(
    roles: Sequence[ColumnRole],
    target: str | None,
    words: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """The roles as the block ``train`` and ``info`` print (one line per role; one per
    text column: ``name → 37 words (chevrolet, ford, …)``, its fitted ``words``)."""
    lines = []
    if target is not None:
        lines.append(f"  target:      {target}")
    for role, label in (("numeric", "numeric"), ("categorical", "categorical"), ("date", "date")):
        cols = [r for r in roles if r.role == role]
        if cols:
            shown = ", ".join(
                r.name + (f" ({r.reason})" if r.parse or r.reason.startswith("--") else "")
                for r in cols[:12]
            )
            more = f", … ({len(cols)} in all)" if len(cols) > 12 else ""
            lines.append(f"  {label + ':':<12} {shown}{more}")
    for r in [r for r in roles if r.role == "text"]:
        vocab = list((words or {}).get(r.name, r.words or []))
        shown = ", ".join(vocab[:6]) + (", …" if len(vocab) > 6 else "")
        forced = " (--text)" if r.reason == "--text" else ""
        lines.append(
            f"  {'text:':<12} {r.name} → {len(vocab)} word{'' if len(vocab) == 1 else 's'}"
            + (f" ({shown})" if vocab else " (none is frequent in the training rows)")
            + forced
        )
    excluded = [r for r in roles if r.role == "excluded"]
    for r in excluded[:12]:
        lines.append(f"  {'excluded:':<12} {r.name or repr(r.name)} — {r.reason}")
    if len(excluded) > 12:
        lines.append(f"  {'excluded:':<12} … and {len(excluded) - 12} more")
    return lines
