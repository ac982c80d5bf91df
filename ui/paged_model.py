"""A Qt table model over a paged store query: rows arrive as they scroll into view.

A project holds 100,000 generations; a view shows a screenful. :class:`PagedTableModel` asks
its ``fetch(offset, limit, query)`` for one page at a time (Qt calls ``canFetchMore`` /
``fetchMore`` when the view scrolls near the end), keeps only the display texts of the rows it
has been given (no widget item per cell), and leaves filtering and sorting to SQL: ``query``
is the search text and sort key, passed to ``fetch`` unchanged.

The first page of the plain listing (no search, default order) is read on the GUI thread: it is
a short walk down an index. Pages that may need a scan of the whole table (a search, a sort on
a JSON field) are read on a worker thread, and a page that arrives after the query changed is
dropped, so typing in a search box never freezes the window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    Qt,
    QThreadPool,
    Signal,
)

log = logging.getLogger(__name__)
Index = QModelIndex | QPersistentModelIndex
TOOLTIP_CHARS = 2000
# Saved runs offered in a drop-down (head scores, head sets, sweeps): the newest this many. A
# research project has a thousand; older ones stay in the project (`workbench project runs`).
RECENT_RUNS = 200
# Rows a long list reads when it is (re)loaded (as a project opens): more than a tall dock
# shows (the view asks for the next page itself while its viewport is not full).
FIRST_PAGE = 80


def recent_runs(project: Any, analysis: str) -> list[Any]:
    """The newest :data:`RECENT_RUNS` runs of ``analysis`` (``"sweep"``...), oldest first (one
    short query): :class:`workbench.store.RunInfo` records."""
    return list(reversed(project.runs(analysis, limit=RECENT_RUNS, descending=True)))


@dataclass(frozen=True)
class Query:
    """What the rows are: a search text and a sort key (column name, descending)."""

    search: str = ""
    sort: str = ""
    descending: bool = True


class _Relay(QObject):
    done = Signal(int, object, object)  # token, rows, error


class _PageJob(QRunnable):
    def __init__(self, relay: _Relay, token: int, fn: Callable[[], list[Any]]):
        super().__init__()
        self.relay, self.token, self.fn = relay, token, fn

    def run(self) -> None:
        try:
            rows, error = self.fn(), None
        except Exception as e:  # noqa: BLE001 - shown by the model's owner, on the GUI thread
            rows, error = None, e
        self.relay.done.emit(self.token, rows, error)


class PagedTableModel(QAbstractTableModel):
    """Rows from ``fetch(offset, limit, query) -> list[record]`` (the store's typed listings),
    shown through ``cells``.

    Parameters
    ----------
    headers
        Column titles.
    fetch
        Reads one page from the store (called on the GUI thread or a worker thread).
    cells
        Turns a fetched row into one text per column.
    is_fast
        Whether a query can be read on the GUI thread (default: the plain listing only).
    on_error
        Called with an exception when a page cannot be read.
    page_size
        Rows per page.
    first_page
        Rows of the first page (default ``page_size``): a few screens' worth is read when the
        list is (re)loaded, as a project opens, and the rest a page at a time as it scrolls.
    default_query
        The query shown first (and read on the GUI thread).
    sort_keys
        The ``fetch`` sort key of each column ("" where a column cannot be sorted).
    tooltip
        A row's tooltip for a column (default: the cell's text).
    keep
        What of a fetched row to keep (default: all of it); the texts are kept anyway.
    """

    loaded = Signal()  # a page arrived (tests and views wait on it)

    def __init__(
        self,
        headers: Sequence[str],
        fetch: Callable[[int, int, Query], list[Any]],
        cells: Callable[[Any], list[str]],
        *,
        is_fast: Callable[[Query], bool] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        page_size: int = 200,
        first_page: int | None = None,
        default_query: Query | None = None,
        sort_keys: Sequence[str] = (),
        tooltip: Callable[[Any, int, str], str] | None = None,
        keep: Callable[[Any], Any] | None = None,
    ):
        super().__init__()
        self.headers = list(headers)
        self._fetch, self._cells = fetch, cells
        self.default_query = default_query or Query()
        self._is_fast = is_fast or (lambda q: not q.search and q == self.default_query)
        self._on_error = on_error
        self.page_size = page_size
        self.first_page = first_page or page_size
        self._asked = page_size  # rows asked for by the page being read
        self.query = self.default_query
        self.sort_keys = list(sort_keys)
        self._tooltip = tooltip
        self._keep = keep or (lambda r: r)
        self._rows: list[Any] = []
        self._texts: list[list[str]] = []
        self._more = False
        self._pending: int | None = None  # token of the page being read on a worker
        self._token = 0
        self._relay = _Relay()
        self._relay.done.connect(self._arrived)
        self._pool = QThreadPool()  # one reader: pages arrive in the order they were asked
        self._pool.setMaxThreadCount(1)

    # ----------------------------------------------------------- Qt's side
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._texts)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.headers)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        text = self._texts[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text.replace("\n", " ⏎ ")
        if role == Qt.ItemDataRole.ToolTipRole:
            if self._tooltip is not None:
                return self._tooltip(self._rows[index.row()], index.column(), text)
            return text[:TOOLTIP_CHARS]
        if role == Qt.ItemDataRole.UserRole:
            return self._rows[index.row()]
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self.headers)
        ):
            return self.headers[section]
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort in SQL by the column's key (the view calls this when a header is clicked)."""
        key = self.sort_keys[column] if 0 <= column < len(self.sort_keys) else ""
        if not key:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        if (key, descending) != (self.query.sort, self.query.descending):
            self.set_query(Query(self.query.search, key, descending))

    def search(self, text: str) -> None:
        """Keep the rows that hold ``text`` (matched by the store, ignoring case)."""
        if text.strip() != self.query.search:
            self.set_query(Query(text.strip(), self.query.sort, self.query.descending))

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:
        return not parent.isValid() and self._more and self._pending is None

    def fetchMore(self, parent: Index = QModelIndex()) -> None:
        if self.canFetchMore(parent):
            self._request(len(self._rows))

    # ----------------------------------------------------------- our side
    @property
    def busy(self) -> bool:
        """A page is being read on the worker thread."""
        return self._pending is not None

    def row(self, i: int) -> Any:
        return self._rows[i]

    def rows(self) -> list[Any]:
        return list(self._rows)

    def set_query(self, query: Query) -> None:
        """Show the rows of ``query`` from the top (the view scrolls back to the first row)."""
        self.query = query
        self.reload()

    def reload(self) -> None:
        """Forget the rows and read the first page again."""
        self._token += 1  # a page still being read is for the old rows: dropped on arrival
        self._pending = None
        self.beginResetModel()
        self._rows, self._texts, self._more = [], [], False
        self.endResetModel()
        self._request(0)

    def clear(self) -> None:
        self._token += 1
        self._pending = None
        self.beginResetModel()
        self._rows, self._texts, self._more = [], [], False
        self.endResetModel()

    def insert_first(self, row: Any) -> None:
        """Put one new row at the top (a new generation in a newest-first list)."""
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._rows.insert(0, self._keep(row))
        self._texts.insert(0, self._cells(row))
        self.endInsertRows()

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the worker has read its page (tests, benchmarks); True when idle."""
        return self._pool.waitForDone(timeout_ms)

    def _request(self, offset: int) -> None:
        limit = self.page_size if offset else self.first_page
        token, query, self._asked = self._token, self.query, limit

        def read() -> list[Any]:
            return self._fetch(offset, limit, query)

        if self._is_fast(query):
            try:
                rows = read()
            except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
                self._fail(e)
                return
            self._add(rows)
            return
        self._pending = token
        self._pool.start(_PageJob(self._relay, token, read))

    def _arrived(self, token: int, rows: list[Any] | None, error: Any) -> None:
        if token != self._token:
            return  # the query changed while this page was read
        self._pending = None
        if error is not None:
            self._fail(error)
            return
        self._add(rows or [])

    def _add(self, rows: list[Any]) -> None:
        self._more = len(rows) >= self._asked
        if rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._texts += [self._cells(r) for r in rows]
            self._rows += [self._keep(r) for r in rows]
            self.endInsertRows()
            if first == 0:  # the first rows: views fitting columns to their contents refit
                self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(self.headers) - 1)
        self.loaded.emit()

    def _fail(self, error: BaseException) -> None:
        self._more = False
        if self._on_error is not None:
            self._on_error(error)
        else:
            log.error("reading a page failed: %s", error)
        self.loaded.emit()

    def shutdown(self) -> None:
        """Drop any page in flight and wait for the reader (before the project closes)."""
        self._token += 1
        self._pending = None
        self._pool.waitForDone(30000)
