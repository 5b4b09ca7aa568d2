"""Column roles: which columns of a table are the target, numbers, categories, dates, or
left out, and why.

:func:`decide_roles` looks at the whole table once, at ``train``, and returns one
:class:`ColumnRole` per column.  The rules (docs/data.md):

* **excluded**, with the reason: ``--exclude``; the ``--id-column``; pandas' unnamed
  index column (``""``, ``Unnamed: 0``); a constant column; an ID — integers
  ``0..n−1`` or ``1..n`` one per row, a name like ``id``/``user_id``, or text unique
  per row; free text (distinct values in more than half the rows);
* **date**: ISO 8601 dates or times (or any column named with ``--date``): becomes
  year, month, day of year and weekday as sin/cos, and the hour when present;
* **numeric**: numbers, also with thousands separators (``1,037.25``) or a decimal
  comma (``--decimal ,``), parsed as numbers; a column of mostly numbers with a few
  words in it is an error naming the first word (never silently one-hot encoded);
* **categorical**: the other text columns, and numeric columns named with
  ``--categorical``: one-hot, 0/1, not scaled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC

import numpy as np

from .datasets import Dataset

__all__ = [
    "ROLES",
    "ColumnRole",
    "RolesError",
    "date_features",
    "decide_roles",
    "describe_roles",
    "parse_dates",
    "parse_numbers",
]

#: The roles a column may have.
ROLES = ("target", "numeric", "categorical", "date", "excluded")

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


class RolesError(ValueError):
    """A column whose role cannot be decided as asked (one line, naming it)."""


@dataclass
class ColumnRole:
    """The role of one column of a table.

    Attributes
    ----------
    name : str
    role : {"target", "numeric", "categorical", "date", "excluded"}
    reason : str
        Why (``"--exclude"``, ``"unique per row (an ID)"``, ``"ISO 8601 dates"``, …).
    parse : str or None
        For a numeric column read as text: ``"thousands"`` (``1,037.25``) or
        ``"decimal"`` (``3,5``).
    """

    name: str
    role: str
    reason: str = ""
    parse: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """Plain values for the model file."""
        return {"name": self.name, "role": self.role, "reason": self.reason, "parse": self.parse}

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
        return cls(doc["name"], doc["role"], str(doc.get("reason") or ""), parse)


def _thousands_pattern(decimal: str) -> re.Pattern[str]:
    sep, mark = ("\\.", ",") if decimal == "," else (",", "\\.")
    return re.compile(rf"^[+-]?(\d{{1,3}}({sep}\d{{3}})+|\d+)({mark}\d+)?$")


def parse_numbers(cells: np.ndarray, parse: str, decimal: str = ".") -> np.ndarray:
    """Text cells with thousands separators or a decimal comma as floats (NaN where ``""``).

    Raises
    ------
    ValueError
        Naming the first cell that is not such a number (its row index in ``args[1]``).
    """
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


def parse_dates(cells: np.ndarray) -> np.ndarray:
    """ISO 8601 text (also ``2012/01/31``) → ``datetime64[s]`` (NaT where ``""``).

    Raises
    ------
    ValueError
        ``(message, row)`` for the first cell that is not a date.
    """
    from datetime import datetime

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


def _cells(data: Dataset, j: int) -> np.ndarray:
    """Column ``j`` of ``data`` as text, ``""`` where missing (``tables._cells`` calls this;
    roles never imports tables, which imports roles)."""
    from .files import _numbers_as_text

    return data.text[j] if j in data.text else _numbers_as_text(data.X[:, j])


def decide_roles(
    data: Dataset,
    *,
    exclude: Iterable[str] = (),
    categorical: Iterable[str] = (),
    dates: Iterable[str] = (),
    id_column: str | None = None,
    decimal: str = ".",
) -> list[ColumnRole]:
    """One role per feature column of ``data`` (the target is not among them).

    Raises
    ------
    RolesError
        A column named in an option that the table does not have, named in two options,
        or a ``--date`` column that does not parse; a column that looks numeric but holds
        words.
    """
    names = list(data.feature_names)
    asked = {
        "--exclude": list(exclude),
        "--categorical": list(categorical),
        "--date": list(dates),
        "--id-column": [id_column] if id_column else [],
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
    n = len(data.X)
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
        is_text = j in data.text
        cells = data.text[j] if is_text else None
        if option == "--date":
            date_cells = cells if cells is not None else _cells(data, j)
            try:
                parse_dates(date_cells)
            except ValueError as exc:
                raise RolesError(
                    f"{data.name}: --date {name!r}: {data.where(exc.args[1])}: {exc.args[0]}"
                ) from None
            roles.append(ColumnRole(name, "date", "--date"))
            continue
        roles.append(_automatic(data, j, name, cells, n, decimal))
    return roles


def _automatic(
    data: Dataset, j: int, name: str, cells: np.ndarray | None, n: int, decimal: str
) -> ColumnRole:
    if name == "" or _UNNAMED.match(name):
        return ColumnRole(name, "excluded", "an unnamed index column (as pandas writes one)")
    big = n >= MIN_ROWS_FOR_HEURISTICS
    if cells is None:
        col = data.X[:, j]
        # Two distinct values, one not whole, among the first rows decide "numeric"
        # exactly as the whole column would (no pass over a million rows).
        head = col[:1024][~np.isnan(col[:1024])]
        if head.size and head.min() != head.max() and not np.all(head == np.round(head)):
            return ColumnRole(name, "numeric")
        present = col[~np.isnan(col)]
        if present.size == 0 or present.min() == present.max():
            return ColumnRole(name, "excluded", "constant" if present.size else "empty")
        integral = bool(np.all(present == np.round(present)))
        if not integral:
            return ColumnRole(name, "numeric")  # (no sort of a million floats)
        distinct = np.unique(present)
        if (
            integral
            and big
            and len(present) == n
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
    present = cells[cells != ""]
    distinct = np.unique(present)
    if len(distinct) <= 1:
        return ColumnRole(name, "excluded", "constant" if len(distinct) else "empty")
    if all(_ISO_DATE.match(v) for v in distinct[:200].tolist()) and all(
        _ISO_DATE.match(v) for v in distinct.tolist()
    ):
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
    share = float(np.isin(present, distinct[numeric]).mean()) if numeric.any() else 0.0
    if share >= 0.5:
        first = int(np.flatnonzero(~np.isin(cells, distinct[numeric]) & (cells != ""))[0])
        raise RolesError(
            f"{data.name}: {data.where(first)}, column {name!r}: "
            f"{str(cells[first])[:40]!r} is not a number, though "
            f"{share:.0%} of the column's cells are (fix the cell, or say "
            f"--categorical {name} or --exclude {name})"
        )
    if big and len(distinct) == len(present) == n:
        return ColumnRole(name, "excluded", "unique per row (an ID or key)")
    if big and _ID_NAME.match(name) and len(distinct) > n // 2:
        return ColumnRole(name, "excluded", "an ID (by its name, with a value per row)")
    if big and len(distinct) > n / 2:
        return ColumnRole(
            name, "excluded", f"free text ({len(distinct)} distinct values in {n} rows)"
        )
    return ColumnRole(name, "categorical", f"{len(distinct)} categories")


def describe_roles(roles: Sequence[ColumnRole], target: str | None) -> list[str]:
    """The roles as the block ``train`` and ``info`` print (one line per role)."""
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
    excluded = [r for r in roles if r.role == "excluded"]
    for r in excluded[:12]:
        lines.append(f"  {'excluded:':<12} {r.name or repr(r.name)} — {r.reason}")
    if len(excluded) > 12:
        lines.append(f"  {'excluded:':<12} … and {len(excluded) - 12} more")
    return lines
