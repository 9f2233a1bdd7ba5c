"""`billgraph import invoices FILE.csv --account ACCOUNT`: migrate standalone invoices.

Streams a CSV into one account through the GraphQL API of a running server
(`createStandaloneInvoices`, batches of up to 1,000 invoices, a few requests at
once), shows a progress bar on stderr, writes the rows that failed to an errors
CSV, and resumes after an interruption without creating anything twice.

The CSV (UTF-8, comma-separated, a header row; column order is free):

| column               | required | meaning                                              |
|----------------------|----------|------------------------------------------------------|
| invoice_date         | yes      | YYYY-MM-DD                                           |
| description          | yes      | the line's text                                      |
| unit_price           | yes      | decimal, e.g. 10.50 (no thousands separators)        |
| quantity             | no       | decimal > 0, default 1                               |
| invoice_number       | no       | empty: generated (INV00000001, ...)                  |
| due_date             | no       | YYYY-MM-DD, default the invoice date                 |
| service_period_start | no       | YYYY-MM-DD                                           |
| service_period_end   | no       | YYYY-MM-DD, inclusive                                |
| product_code         | no       | a product of the catalog                             |

Each row is one invoice line. Consecutive rows with the same non-empty
invoice_number form one multi-line invoice (its invoice and due dates are the
first row's); a row without an invoice_number is an invoice of its own. Other
columns are ignored, so an errors file (the input's columns plus `line` and
`error`) can be corrected and imported as it is.

Resuming: batch k of a file is sent with the idempotency key
`import:<sha256 of the file>:<account>:<options>:<k>`, and every finished batch
is appended to a progress file (default FILE.csv.progress). Re-running the same
command skips the finished batches and re-sends the others with their keys: a
batch the server had already committed answers with its first result instead
of creating its invoices again. (The server keeps keys 24 hours; when a CSV has
invoice numbers, a batch re-sent later still cannot duplicate them: the taken
numbers are reported as CONFLICT.)
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import hashlib
import io
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

MAX_BATCH = 1000
COLUMNS = ("invoice_number", "invoice_date", "due_date", "description", "quantity",
           "unit_price", "service_period_start", "service_period_end", "product_code")
REQUIRED = ("invoice_date", "description", "unit_price")
ERROR_COLUMNS = ("line", "error")
RETRYABLE = {"LOCK_COMPETITION", "IDEMPOTENCY_KEY_IN_USE", "INTERNAL"}

CREATE = """mutation Import($inputs: [StandaloneInvoiceInput!]!, $key: String) {
  createStandaloneInvoices(inputs: $inputs, idempotencyKey: $key) {
    invoice { id } errors { code message } } }"""
FIND_BY_ID = "query Account($id: ID!) { account(id: $id) { id accountNumber } }"
FIND_BY_NUMBER = ("query Account($number: String!) { account(accountNumber: $number) "
                  "{ id accountNumber } }")


class ImportFailed(Exception):
    """The import cannot go on (bad file, bad account, refused key...): exit code 2."""


@dataclass
class Row:
    line: int
    values: dict[str, str]


@dataclass
class Invoice:
    rows: list[Row]
    payload: dict[str, Any] | None  # None: invalid on the client side
    errors: dict[int, str] = field(default_factory=dict)  # line -> message


@dataclass
class Batch:
    index: int
    invoices: list[Invoice] = field(default_factory=list)  # valid, sent
    rejected: list[Invoice] = field(default_factory=list)  # invalid, never sent

    @property
    def rows(self) -> int:
        return sum(len(i.rows) for i in self.invoices) + sum(len(i.rows) for i in self.rejected)


# ---------------------------------------------------------------- reading the CSV


def scan(path: Path) -> tuple[str, int]:
    """The file's SHA-256 and its number of data rows (one pass, constant memory)."""
    digest = hashlib.sha256()

    class Hashing(io.RawIOBase):
        def __init__(self, raw: IO[bytes]) -> None:
            self.raw = raw

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            data = self.raw.read(len(buffer))
            digest.update(data)
            buffer[:len(data)] = data
            return len(data)

    with path.open("rb") as raw:
        text = io.TextIOWrapper(io.BufferedReader(Hashing(raw)), encoding="utf-8-sig",
                                newline="")
        rows = sum(1 for _ in csv.reader(text)) - 1
    return digest.hexdigest(), max(rows, 0)


def read_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ImportFailed(f"{path}: missing column(s) {', '.join(missing)}; the header "
                               f"must name {', '.join(REQUIRED)} (optional: "
                               f"{', '.join(c for c in COLUMNS if c not in REQUIRED)})")
        unknown = [h for h in header if h not in COLUMNS and h not in ERROR_COLUMNS]
        if unknown:
            print(f"note: ignoring column(s) {', '.join(unknown)}", file=sys.stderr)
        reader.fieldnames = header
        for values in reader:
            yield Row(reader.line_num, {k: (v or "").strip() for k, v in values.items()
                                        if k is not None and isinstance(v, str)})


def group_invoices(rows: Iterator[Row]) -> Iterator[list[Row]]:
    """Consecutive rows sharing a non-empty invoice_number are one invoice."""
    group: list[Row] = []
    for row in rows:
        number = row.values.get("invoice_number", "")
        if group and number and number == group[0].values.get("invoice_number", ""):
            group.append(row)
            continue
        if group:
            yield group
        group = [row]
    if group:
        yield group


def _column(row: Row, column: str, errors: list[str], required: bool,
            parse: Callable[[str], str], what: str) -> str | None:
    """The column's value as `parse` returns it; None (and an error) when it is missing
    but required, or when `parse` raises ValueError."""
    value = row.values.get(column, "")
    if not value:
        if required:
            errors.append(f"{column}: required")
        return None
    try:
        return parse(value)
    except ValueError:
        errors.append(f"{column}: {value!r} is not {what}")
        return None


def _iso_date(value: str) -> str:
    return dt.date.fromisoformat(value).isoformat()


def _finite_decimal(value: str) -> str:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(value) from None
    if not number.is_finite():
        raise ValueError(value)
    return value


def _date(row: Row, column: str, errors: list[str], required: bool = False) -> str | None:
    return _column(row, column, errors, required, _iso_date, "a date (YYYY-MM-DD)")


def _decimal(row: Row, column: str, errors: list[str], required: bool = False) -> str | None:
    return _column(row, column, errors, required, _finite_decimal, "a decimal number")


def build_invoice(rows: list[Row], account_id: str, draft: bool) -> Invoice:
    """The createStandaloneInvoices input of one invoice, or its rows' errors."""
    first = rows[0]
    invoice = Invoice(rows, None)
    head_errors: list[str] = []
    invoice_date = _date(first, "invoice_date", head_errors, required=True)
    due_date = _date(first, "due_date", head_errors)
    if head_errors:
        invoice.errors[first.line] = "; ".join(head_errors)
    lines = []
    for row in rows:
        errors: list[str] = []
        if not row.values.get("description"):
            errors.append("description: required")
        line: dict[str, Any] = {"description": row.values.get("description", ""),
                                "unitPrice": _decimal(row, "unit_price", errors, required=True)}
        for column, name in (("quantity", "quantity"),):
            value = _decimal(row, column, errors)
            if value is not None:
                line[name] = value
        for column, name in (("service_period_start", "servicePeriodStart"),
                             ("service_period_end", "servicePeriodEnd")):
            value = _date(row, column, errors)
            if value is not None:
                line[name] = value
        if row.values.get("product_code"):
            line["productCode"] = row.values["product_code"]
        if errors:
            message = "; ".join(errors)
            invoice.errors[row.line] = (f"{invoice.errors[row.line]}; {message}"
                                        if row.line in invoice.errors else message)
        lines.append(line)
    if invoice.errors:
        for row in rows:
            invoice.errors.setdefault(
                row.line, f"not imported: another row of invoice "
                          f"{first.values.get('invoice_number')!r} is invalid")
        return invoice
    payload: dict[str, Any] = {"accountId": account_id, "invoiceDate": invoice_date,
                               "lines": lines}
    if due_date is not None:
        payload["dueDate"] = due_date
    if first.values.get("invoice_number"):
        payload["invoiceNumber"] = first.values["invoice_number"]
    if draft:
        payload["post"] = False
    invoice.payload = payload
    return invoice


def batches(path: Path, account_id: str, batch_size: int, draft: bool) -> Iterator[Batch]:
    """Batches of up to batch_size valid invoices, in file order; the invalid invoices
    met on the way belong to the batch being filled (so a resume skips them too)."""
    batch = Batch(0)
    for rows in group_invoices(read_rows(path)):
        invoice = build_invoice(rows, account_id, draft)
        if invoice.payload is None:
            batch.rejected.append(invoice)
            continue
        batch.invoices.append(invoice)
        if len(batch.invoices) == batch_size:
            yield batch
            batch = Batch(batch.index + 1)
    if batch.invoices or batch.rejected:
        yield batch


# ---------------------------------------------------------------- progress and errors


@dataclass
class Progress:
    """The progress file: a header line, then one JSON line per finished batch.

    Each batch line records the size of the errors file once that batch's errors
    were written: on resume the errors file is cut back to the last recorded
    size, so the errors of a batch that was in flight are never written twice."""

    path: Path
    header: dict[str, Any]
    done: set[int] = field(default_factory=set)
    rows: int = 0
    invoices: int = 0
    error_rows: int = 0
    errors_size: int = 0
    finished: bool = False
    _file: IO[str] | None = None

    @classmethod
    def open(cls, path: Path, header: dict[str, Any]) -> Progress:
        progress = cls(path, header)
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            records = []
            for text in lines:
                try:
                    records.append(json.loads(text))
                except json.JSONDecodeError:
                    break  # a line torn by a kill: the batch is not done
            if not records or {k: records[0].get(k) for k in header} != header:
                raise ImportFailed(
                    f"{path} is the progress of another import (another file, account or "
                    f"options); delete it to start over, or pass --progress PATH")
            for record in records[1:]:
                if record.get("finished"):
                    progress.finished = True
                    continue
                progress.done.add(record["batch"])
                progress.rows += record["rows"]
                progress.invoices += record["invoices"]
                progress.error_rows += record["errorRows"]
                progress.errors_size = record["errorsSize"]
            # without a line torn by a kill (replaced atomically: a kill now loses nothing)
            _replace(path, "".join(json.dumps(r) + "\n" for r in records))
        else:
            _replace(path, json.dumps(header) + "\n")
        progress._file = path.open("a", encoding="utf-8")
        return progress

    def record(self, entry: dict[str, Any]) -> None:
        assert self._file is not None
        self._file.write(json.dumps(entry) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


class ErrorsFile:
    def __init__(self, path: Path, columns: list[str], keep_bytes: int) -> None:
        self.path = path
        self.columns = columns
        if keep_bytes and path.exists():
            with path.open("r+b") as f:
                f.truncate(keep_bytes)
            self.file = path.open("a", encoding="utf-8", newline="")
        else:
            self.file = path.open("w", encoding="utf-8", newline="")
            csv.writer(self.file).writerow([*columns, *ERROR_COLUMNS])
        self.writer = csv.writer(self.file)

    def write(self, row: Row, message: str) -> None:
        self.writer.writerow([*(row.values.get(c, "") for c in self.columns), row.line,
                              message])

    def sync(self) -> int:
        self.file.flush()
        os.fsync(self.file.fileno())
        return self.file.tell()

    def close(self) -> None:
        self.file.close()


# ---------------------------------------------------------------- talking to the server


class Api:
    def __init__(self, url: str, key: str, timeout: float = 300) -> None:
        import httpx

        self.url = url.rstrip("/")
        if not self.url.endswith("/graphql"):
            self.url += "/graphql"
        self.http = httpx.AsyncClient(timeout=timeout,
                                      headers={"Authorization": f"Bearer {key}"})

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, query: str, variables: dict[str, Any]) -> Any:
        """The data of one request; retries what is worth retrying, with backoff."""
        import httpx

        delay = 0.2
        for attempt in range(12):
            try:
                response = await self.http.post(self.url, json={"query": query,
                                                                 "variables": variables})
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if response.status_code >= 500 and "application/json" not in response.headers.get(
                        "content-type", ""):
                    problem = f"HTTP {response.status_code}"
                else:
                    body = response.json()
                    errors = body.get("errors") or []
                    codes = {(e.get("extensions") or {}).get("code") for e in errors}
                    if not errors:
                        return body["data"]
                    problem = "; ".join(e.get("message", "?") for e in errors)
                    if not codes & RETRYABLE:
                        raise ImportFailed(f"the server refused the request: {problem} "
                                           f"({', '.join(sorted(str(c) for c in codes))})")
            if attempt == 11:
                raise ImportFailed(f"giving up after {attempt + 1} tries: {problem}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    async def find_account(self, ref: str) -> str:
        try:
            uuid.UUID(ref)
        except ValueError:
            data = await self._find(FIND_BY_NUMBER, {"number": ref})
        else:
            data = await self._find(FIND_BY_ID, {"id": ref})
        if not data or not data.get("account"):
            raise ImportFailed(f"account {ref} not found")
        return str(data["account"]["id"])

    async def _find(self, query: str, variables: dict[str, Any]) -> Any:
        try:
            return await self.call(query, variables)
        except ImportFailed as error:
            if "NOT_FOUND" in str(error):
                return None
            raise


# ---------------------------------------------------------------- the import


@dataclass
class Options:
    path: Path
    account: str
    url: str
    key: str
    errors: Path
    progress: Path
    batch_size: int = MAX_BATCH
    concurrency: int = 4
    draft: bool = False
    quiet: bool = False


@dataclass
class Summary:
    rows: int
    invoices: int
    error_rows: int
    skipped_batches: int
    errors_path: Path | None


async def run(options: Options) -> Summary:
    from tqdm import tqdm  # type: ignore[import-untyped]

    if not 1 <= options.batch_size <= MAX_BATCH:
        raise ImportFailed(f"--batch-size must be 1 to {MAX_BATCH}")
    if not options.path.is_file():
        raise ImportFailed(f"{options.path}: no such file")
    sha, total_rows = scan(options.path)
    api = Api(options.url, options.key)
    try:
        account_id = await api.find_account(options.account)
        header = {"file": sha, "account": account_id, "batchSize": options.batch_size,
                  "draft": options.draft}
        progress = Progress.open(options.progress, header)
        columns = _input_columns(options.path)
        errors = ErrorsFile(options.errors, columns, progress.errors_size)
        bar = tqdm(total=total_rows, initial=progress.rows, unit="row", unit_scale=True,
                   desc="importing", file=sys.stderr, disable=options.quiet, mininterval=0.5,
                   dynamic_ncols=True)
        try:
            if not progress.finished:
                await _send_all(options, api, sha, account_id, progress, errors, bar)
                progress.record({"finished": True})
        finally:
            bar.close()
            errors.close()
            progress.close()
    finally:
        await api.close()
    errors_path: Path | None = options.errors
    if progress.error_rows == 0:
        options.errors.unlink(missing_ok=True)
        errors_path = None
    return Summary(progress.rows, progress.invoices, progress.error_rows,
                   len(progress.done), errors_path)


def _input_columns(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f), [])
    return [h.strip() for h in header if h.strip() not in ERROR_COLUMNS]


async def _send_all(options: Options, api: Api, sha: str, account_id: str, progress: Progress,
                    errors: ErrorsFile, bar: Any) -> None:
    queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=options.concurrency * 2)
    key_prefix = (f"import:{sha}:{account_id}:{options.batch_size}"
                  f"{':draft' if options.draft else ''}")

    async def produce() -> None:
        async for batch in _pending(options, account_id, progress):
            await queue.put(batch)
        for _ in range(options.concurrency):
            await queue.put(None)

    async def consume() -> None:
        while (batch := await queue.get()) is not None:
            results = []
            if batch.invoices:
                data = await api.call(CREATE, {
                    "inputs": [i.payload for i in batch.invoices],
                    "key": f"{key_prefix}:{batch.index}"})
                results = data["createStandaloneInvoices"]
            finish(batch, results)

    def finish(batch: Batch, results: list[dict[str, Any]]) -> None:
        """Errors, then the progress line: no await in between, so batches finishing
        concurrently cannot interleave their records."""
        error_rows = 0
        for invoice in batch.rejected:
            for row in invoice.rows:
                errors.write(row, invoice.errors[row.line])
                error_rows += 1
        created = 0
        for invoice, result in zip(batch.invoices, results, strict=True):
            if result["invoice"] is not None:
                created += 1
                continue
            message = "; ".join(f"{e['code']}: {e['message']}" for e in result["errors"])
            for row in invoice.rows:
                errors.write(row, message)
                error_rows += 1
        size = errors.sync()
        progress.record({"batch": batch.index, "rows": batch.rows, "invoices": created,
                         "errorRows": error_rows, "errorsSize": size})
        progress.done.add(batch.index)
        progress.rows += batch.rows
        progress.invoices += created
        progress.error_rows += error_rows
        bar.update(batch.rows)
        bar.set_postfix(invoices=str(progress.invoices), errors=str(progress.error_rows),
                        refresh=False)

    producer = asyncio.create_task(produce())
    consumers = [asyncio.create_task(consume()) for _ in range(options.concurrency)]
    try:
        await asyncio.gather(producer, *consumers)
    finally:
        for task in (producer, *consumers):
            task.cancel()
        await asyncio.gather(producer, *consumers, return_exceptions=True)


async def _pending(options: Options, account_id: str,
                   progress: Progress) -> AsyncIterator[Batch]:
    """The batches not finished yet, read from the file a little at a time."""
    for batch in batches(options.path, account_id, options.batch_size, options.draft):
        if batch.index not in progress.done:
            yield batch
        else:
            await asyncio.sleep(0)


# ---------------------------------------------------------------- command line


def add_parser(commands: Any) -> None:
    """`billgraph import invoices ...` (called by cli.main)."""
    imports = commands.add_parser("import", help="import data through the API of a running "
                                                 "server").add_subparsers(dest="action",
                                                                          required=True)
    invoices = imports.add_parser(
        "invoices", help="standalone invoices from a CSV into one account",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    invoices.add_argument("file", type=Path, help="the CSV file")
    invoices.add_argument("--account", required=True, help="account number or id")
    invoices.add_argument("--url", default=os.environ.get("BILLGRAPH_URL",
                                                          "http://127.0.0.1:8000"),
                          help="the server (default: $BILLGRAPH_URL or http://127.0.0.1:8000)")
    invoices.add_argument("--key", default=os.environ.get("BILLGRAPH_API_KEY"),
                          help="a write API key (default: $BILLGRAPH_API_KEY)")
    invoices.add_argument("--errors", type=Path, default=None,
                          help="where failed rows go (default: FILE.errors.csv)")
    invoices.add_argument("--progress", type=Path, default=None,
                          help="the resume file (default: FILE.progress)")
    invoices.add_argument("--batch-size", type=int, default=MAX_BATCH,
                          help=f"invoices per request (1 to {MAX_BATCH})")
    invoices.add_argument("--concurrency", type=int, default=4, help="requests at once")
    invoices.add_argument("--draft", action="store_true",
                          help="create DRAFT invoices instead of posting them")
    invoices.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_import(settings: Any, args: argparse.Namespace) -> int:
    if not args.key:
        print("error: an API key is needed: --key KEY or BILLGRAPH_API_KEY", file=sys.stderr)
        return 2
    path: Path = args.file
    options = Options(
        path=path, account=args.account, url=args.url, key=args.key,
        errors=args.errors or path.with_name(f"{path.stem}.errors.csv"),
        progress=args.progress or path.with_name(f"{path.name}.progress"),
        batch_size=args.batch_size, concurrency=max(1, args.concurrency), draft=args.draft,
        quiet=args.quiet)
    try:
        summary = asyncio.run(run(options))
    except ImportFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: run the same command again to resume "
              f"(progress in {options.progress})", file=sys.stderr)
        return 130
    print(f"imported {summary.invoices} invoices from {summary.rows} rows into account "
          f"{args.account}; {summary.error_rows} rows failed"
          + (f" (see {summary.errors_path})" if summary.errors_path else ""))
    return 0 if summary.error_rows == 0 else 1
