"""Idempotent installers for the local stack's servers, into LABELOPS_CACHE:

- ``ensure_kafka()``: the broker's jars from Maven Central (``mvn dependency:copy-dependencies``
  on deploy/local/kafka/pom.xml), plus the logging backend the artifacts do not bring;
- ``ensure_ferretdb()``: ``go install`` of deploy/local/ferretdb (FerretDB's embeddable package);
- ``ensure_minio()``: ``go install github.com/minio/minio`` at the pinned commit, through a
  file proxy that supplies the ``.info`` the Go proxy refuses for it (go.sum still checks the
  source zip).

Each records what it built in a stamp file (versions, a digest of its inputs, the toolchain);
a matching stamp with its outputs present means there is nothing to do, a changed pin means
a rebuild. A missing toolchain or a failed fetch or build raises ``StackError`` with one line
naming what is missing and how to get it; build output goes to LABELOPS_CACHE/logs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from labelops_cli.stack import paths, versions
from labelops_cli.stack.errors import StackError

__all__ = ["StackError", "ensure_all", "ensure_ferretdb", "ensure_kafka", "ensure_minio",
           "kafka_libs", "ferretdb_binary", "minio_binary"]

console = Console(stderr=True, highlight=False)

HOW_JAVA = ("install a Java runtime ≥ 17 (`apt-get install openjdk-17-jre-headless`, "
            "or https://adoptium.net)")
HOW_MAVEN = "install Maven ≥ 3.6 (`apt-get install maven`, or https://maven.apache.org/download.cgi)"
HOW_GO = "install Go ≥ 1.25 (https://go.dev/dl or `apt-get install golang`)"
DEFAULT_GOPROXY = "https://proxy.golang.org"


# -- helpers -----------------------------------------------------------------------------


def _require(tool: str, how: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise StackError(f"{tool} not found: {how}")
    return found


def _digest(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        try:
            h.update(f.read_bytes())
        except FileNotFoundError as exc:
            raise StackError(f"{f} is missing: restore it from the repository "
                             f"(git checkout -- {f.relative_to(paths.REPO)})") from exc
    return h.hexdigest()[:16]


def _stamp_matches(stamp: Path, want: dict[str, str], *outputs: Path) -> bool:
    if not stamp.exists() or not all(p.exists() for p in outputs):
        return False
    try:
        have = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(have, dict) and all(have.get(k) == v for k, v in want.items())


def _adopt_legacy_stamp(legacy: Path, legacy_want: str, stamp: Path,
                        want: dict[str, str]) -> None:
    """Stamps of the first installer were one line of text; adopt a matching one so an
    existing build is not redone."""
    if not stamp.exists() and legacy.exists() and legacy.read_text().strip() == legacy_want:
        _write_stamp(stamp, want, adopted_from=legacy.name)


def _write_stamp(stamp: Path, want: dict[str, str], **extra: str) -> None:
    stamp.parent.mkdir(parents=True, exist_ok=True)
    record = {**want, **extra, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = stamp.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, stamp)


@contextmanager
def _install_lock() -> Iterator[None]:
    """One installer at a time per cache (two `up`s racing must not build twice)."""
    paths.cache_dir().mkdir(parents=True, exist_ok=True)
    with open(paths.cache_dir() / ".install.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log_path(name: str) -> Path:
    folder = paths.cache_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.log"


def _failure_line(lines: list[str]) -> str:
    """The most telling line of a failed build's output."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
    for pattern in (r"^\[ERROR\]\s+\S", r"(?i)\berror\b", r"\S"):
        for line in lines:
            if re.search(pattern, line):
                text = re.sub(r"^\[ERROR\]\s*", "", line.strip())
                return text[:300]
    return "no output"


def _run(step: str, log_name: str, args: list[str], *, cwd: Path,
         env: dict[str, str] | None = None, hint: str = "") -> None:
    """Run one build step with a spinner showing its latest output line; all output goes to
    LABELOPS_CACHE/logs/<log_name>.log."""
    log = _log_path(log_name)
    started = time.monotonic()
    console.print(f"[cyan]•[/cyan] {escape(step)}{escape(hint)} [dim](log: {log})[/dim]")
    lines: list[str] = []
    with open(log, "w") as out, console.status(escape(step)) as status:
        out.write(f"$ {' '.join(args)}\n")
        out.flush()
        try:
            process = subprocess.Popen(args, cwd=cwd, env={**os.environ, **(env or {})},
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, text=True, errors="replace")
        except OSError as exc:
            raise StackError(f"{step} could not start {args[0]}: {exc}") from exc
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            lines.append(line.rstrip())
            del lines[:-200]
            if line.strip():
                status.update(f"{escape(step)} [dim]{escape(line.strip()[:90])}[/dim]")
        code = process.wait()
    if code != 0:
        raise StackError(f"{step} failed (exit {code}): {_failure_line(lines)} — full log: {log}")
    console.print(f"[green]✓[/green] {escape(step)}: done in {time.monotonic() - started:.0f}s")


def _cached(what: str) -> None:
    console.print(f"[dim]✓ {escape(what)} (installed)[/dim]")


def _java_major(java: str) -> int:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"java does not run ({exc}): {HOW_JAVA}") from exc
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not found:
        raise StackError(f"cannot read the version of {java}: {HOW_JAVA}")
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def _go_version(go: str) -> tuple[int, int]:
    try:
        out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"go does not run ({exc}): {HOW_GO}") from exc
    found = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if not found:
        raise StackError(f"cannot read the version of {go} ({out.stdout.strip()!r}): {HOW_GO}")
    return int(found.group(1)), int(found.group(2))


def _go_env_value(go: str, name: str) -> str:
    out = subprocess.run([go, "env", name], capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def _require_go() -> tuple[str, str]:
    go = _require("go", HOW_GO)
    have = _go_version(go)
    if have < versions.GO_MIN:
        raise StackError(f"go {have[0]}.{have[1]} is too old: {HOW_GO}")
    return go, f"go{have[0]}.{have[1]}"


def _check_go_mod(folder: Path, module: str, version: str) -> None:
    text = (folder / "go.mod").read_text()
    if not re.search(rf"^\s*(require\s+)?{re.escape(module)}\s+{re.escape(version)}\s*$",
                     text, re.MULTILINE):
        raise StackError(
            f"{folder.relative_to(paths.REPO)}/go.mod does not require {module} {version} "
            f"(versions.py): update go.mod/go.sum with `go get {module}@{version}` there")


def _go_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"GOBIN": str(paths.bin_dir()), "GOFLAGS": "-mod=mod", **(extra or {})}


# -- Kafka ---------------------------------------------------------------------------------


def kafka_libs() -> Path:
    """The folder with the broker's jars (a classpath of ``<folder>/*``)."""
    return paths.cache_dir() / "kafka" / "libs"


def _kafka_jar(libs: Path) -> Path:
    return libs / f"kafka_{versions.SCALA_BINARY}-{versions.KAFKA_VERSION}.jar"


def ensure_kafka() -> Path:
    """Fetch the pinned Kafka broker jars (and a logging backend) unless already there."""
    libs = kafka_libs()
    pom = paths.DEPLOY_LOCAL / "kafka" / "pom.xml"
    stamp = libs.parent / "installed.json"
    want = {"component": "kafka", "kafka": versions.KAFKA_VERSION,
            "slf4j": versions.SLF4J_VERSION, "reload4j": versions.RELOAD4J_VERSION,
            "inputs": _digest(pom)}
    label = f"Kafka {versions.KAFKA_VERSION}"
    _adopt_legacy_stamp(libs.parent / "installed",
                        f"kafka {versions.KAFKA_VERSION} {want['inputs']}", stamp, want)
    java = _require("java", HOW_JAVA)
    if _java_major(java) < versions.JAVA_MIN:
        raise StackError(f"java {_java_major(java)} is too old for Kafka: {HOW_JAVA}")
    if _stamp_matches(stamp, want, _kafka_jar(libs)):
        _cached(label)
        return libs
    with _install_lock():
        if _stamp_matches(stamp, want, _kafka_jar(libs)):
            return libs
        mvn = _require("mvn", HOW_MAVEN)
        fresh = libs.with_name("libs.partial")
        shutil.rmtree(fresh, ignore_errors=True)
        _run(f"{label}: fetching the broker jars from Maven Central", "kafka-maven",
             [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(pom),
              "dependency:copy-dependencies",
              "-DincludeScope=runtime", f"-DoutputDirectory={fresh}",
              f"-Dkafka.version={versions.KAFKA_VERSION}",
              f"-Dslf4j.version={versions.SLF4J_VERSION}",
              f"-Dreload4j.version={versions.RELOAD4J_VERSION}"],
             cwd=pom.parent)
        if not _kafka_jar(fresh).exists():
            raise StackError(f"Maven did not fetch {_kafka_jar(fresh).name}: check "
                             f"{pom.relative_to(paths.REPO)} and {_log_path('kafka-maven')}")
        if not any(fresh.glob("reload4j-*.jar")):
            raise StackError(f"no logging backend (reload4j) among the fetched jars: check "
                             f"{pom.relative_to(paths.REPO)}")
        shutil.rmtree(libs, ignore_errors=True)
        os.replace(fresh, libs)
        _write_stamp(stamp, want, java=str(_java_major(java)))
    return libs


# -- FerretDB ------------------------------------------------------------------------------


def ferretdb_binary() -> Path:
    return paths.bin_dir() / "ferretdb"


_DELETE_SQL = ("{indent}q := fmt.Sprintf(`DELETE FROM %q WHERE %s IN (%s)`, meta.TableName, "
               "column, strings.Join(placeholders{chosen}, \", \"))\n")
_DELETE_ONE_STATEMENT = _DELETE_SQL.format(indent="\t", chosen="") + """
	res, err := db.ExecContext(ctx, q, args...)
	if err != nil {
		return nil, lazyerrors.Error(err)
	}

	ra, err := res.RowsAffected()
	if err != nil {
		return nil, lazyerrors.Error(err)
	}
"""
_DELETE_IN_CHUNKS = """\
	// LabelOps: one statement per 10,000 ids; SQLite refuses more variables than its limit.
	var ra int64
	for start := 0; start < len(args); start += 10000 {
		end := min(start+10000, len(args))
""" + _DELETE_SQL.format(indent="\t\t", chosen="[start:end]") + """
		res, err := db.ExecContext(ctx, q, args[start:end]...)
		if err != nil {
			return nil, lazyerrors.Error(err)
		}

		n, err := res.RowsAffected()
		if err != nil {
			return nil, lazyerrors.Error(err)
		}

		ra += n
	}
"""

_QUERY_ID_ONLY = """\
	q := prepareSelectClause(meta.TableName, params.Comment, meta.Capped(), params.OnlyRecordIDs)

	var whereClause string
	var args []any

	// that logic should exist in one place
	// TODO https://github.com/FerretDB/FerretDB/issues/3235
	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}
"""
_QUERY_PUSHDOWN = """\
	q := prepareSelectClause(meta.TableName, params.Comment, meta.Capped(), params.OnlyRecordIDs)

	whereClause, args := labelopsWhere(params.Filter)
"""
_EXPLAIN_ID_ONLY = """\
	var filterPushdown bool
	var whereClause string
	var args []any

	// that logic should exist in one place
	// TODO https://github.com/FerretDB/FerretDB/issues/3235
	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			filterPushdown = true
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}
"""
_EXPLAIN_PUSHDOWN = """\
	// LabelOps: the plan of the statement Query runs (labelopsWhere).
	whereClause, args := labelopsWhere(params.Filter)
	filterPushdown := whereClause != ""
"""
_INSERT_ALL_DOC = "// InsertAll implements backends.Collection interface.\n"
_LABELOPS_WHERE = """\
// labelopsWhere (LabelOps) pushes equality and $in on top-level fields with string values
// (and ObjectIDs for _id) down to SQLite, where the collection's expression indexes
// (_ferretdb_sjson->"field") answer them instead of a scan of the table. The handler filters
// the rows again, so the condition only has to keep every document that may match: a field
// holding an array may match by one of its elements, so arrays (JSON text starting with
// "[") are always kept.
func labelopsWhere(filter *types.Document) (string, []any) {
	if filter == nil {
		return "", nil
	}

	var conds []string
	var args []any

	iter := filter.Iterator()
	defer iter.Close()

	for {
		key, value, err := iter.Next()
		if err != nil {
			break
		}

		if !labelopsPlainKey(key) {
			continue
		}

		var values []any

		switch v := value.(type) {
		case string:
			values = []any{v}
		case types.ObjectID:
			if key == "_id" {
				values = []any{v}
			}
		case *types.Document:
			in, _ := v.Get("$in")
			arr, ok := in.(*types.Array)
			if ok && v.Len() == 1 && arr.Len() > 0 && arr.Len() <= 1000 {
				for i := 0; i < arr.Len(); i++ {
					elem := must.NotFail(arr.Get(i))
					_, isID := elem.(types.ObjectID)
					if _, isString := elem.(string); !isString && !(isID && key == "_id") {
						values = nil
						break
					}
					values = append(values, elem)
				}
			}
		}

		if len(values) == 0 {
			continue
		}

		col := fmt.Sprintf(`%s->"%s"`, metadata.DefaultColumn, key)
		placeholders := make([]string, len(values))
		for i, v := range values {
			placeholders[i] = "?"
			args = append(args, string(must.NotFail(sjson.MarshalSingleValue(v))))
		}

		conds = append(conds, fmt.Sprintf(`(%s IN (%s) OR (%s >= '[' AND %s < '\\'))`,
			col, strings.Join(placeholders, ", "), col, col))
	}

	if len(conds) == 0 {
		return "", nil
	}

	return " WHERE " + strings.Join(conds, " AND "), args
}

// labelopsPlainKey is true for a top-level field name that needs no quoting in SQL.
func labelopsPlainKey(key string) bool {
	if key == "" || len(key) > 128 {
		return false
	}

	for _, r := range key {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}

	return true
}

"""

_UPDATE_CLOSER_DEFERRED = """\
		closer := iterator.NewMultiCloser()
		defer closer.Close()
"""
_UPDATE_CLOSER_NOW = """\
		// LabelOps: closed as soon as this update is done (see _UPDATE_RUN_THEN_CLOSE).
		closer := iterator.NewMultiCloser()
"""
_UPDATE_RUN = """\
		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)
		if err != nil {
"""
_UPDATE_RUN_THEN_CLOSE = """\
		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)

		// LabelOps: a deferred close would hold this query's connection until the command
		// ends; a command of as many updates as the pool has connections then waits for ever.
		closer.Close()

		if err != nil {
"""

_FSQL_IMPORTS = """\
	"log/slog"
	"time"
"""
_FSQL_IMPORTS_SYNC = """\
	"log/slog"
	"sync"
	"time"
"""
_FSQL_FIELDS = """\
	sqlDB     *sql.DB
	l         *slog.Logger
"""
_FSQL_FIELDS_WRITER = """\
	sqlDB     *sql.DB
	l         *slog.Logger

	// LabelOps: one writer at a time, in arrival order (see FERRETDB_PATCH, 5).
	writer sync.Mutex
"""
_FSQL_EXEC = """\
	res, err := db.sqlDB.ExecContext(ctx, query, args...)
"""
_FSQL_EXEC_ONE_WRITER = """\
	db.writer.Lock()
	res, err := db.sqlDB.ExecContext(ctx, query, args...)
	db.writer.Unlock()
"""
_FSQL_BEGIN = """\
	var sqlTx *sql.Tx

	if sqlTx, err = db.sqlDB.BeginTx(ctx, nil); err != nil {
"""
_FSQL_BEGIN_ONE_WRITER = """\
	var sqlTx *sql.Tx

	// LabelOps: the sqlite backend only opens transactions to write.
	db.writer.Lock()
	defer db.writer.Unlock()

	if sqlTx, err = db.sqlDB.BeginTx(ctx, nil); err != nil {
"""

_OPENDB_IMPORTS = """\
	"database/sql"
	"log/slog"
"""
_OPENDB_IMPORTS_TIME = """\
	"database/sql"
	"log/slog"
	"strings"
	"time"
"""
_OPENDB_RETURN = """\
	return fsql.WrapDB(db, name, l), nil
}
"""
_OPENDB_RETURN_OPTIMIZED = """\
	wrapped := fsql.WrapDB(db, name, l)

	// LabelOps: the query planner's statistics kept current (see FERRETDB_PATCH, 6).
	go labelopsOptimize(wrapped, l)

	return wrapped, nil
}

// labelopsOptimize (LabelOps) runs PRAGMA optimize now and every minute until the database
// is closed: it analyzes the tables never analyzed or grown (or shrunk) a lot since, each
// index from a sample of about 1,000 rows (a whole 2 GB database in about a second; without
// the limit, over a minute of held writes), and is a cheap check otherwise. Through
// fsql.DB, so it takes the database's writer turn (ANALYZE writes sqlite_stat1).
func labelopsOptimize(db *fsql.DB, l *slog.Logger) {
	for {
		_, err := db.ExecContext(context.Background(),
			"PRAGMA analysis_limit=1000; PRAGMA optimize=0x10002")
		if err != nil {
			if strings.Contains(err.Error(), "database is closed") {
				return
			}

			l.Warn("labelops: PRAGMA optimize failed", logging.Error(err))
		}

		time.Sleep(time.Minute)
	}
}
"""

# FerretDB v1's SQLite backend looks documents up by ``_id`` with the expression
# ``_ferretdb_sqlite->'$._id'`` while the primary-key index it creates is on
# ``_ferretdb_sqlite->"_id"``: SQLite cannot use the index, so every find, update and delete
# by ``_id`` scans the whole table (measured: 200 point reads on 100k documents 29 s, updates
# ~3/s). Building with the query expression equal to the index expression makes them index
# lookups (75 ms, ~660 updates/s); the stored data and indexes are unchanged.
#
# (file, text, replacement) applied to FerretDB's source before it is built:
# 1. _id lookups use the expression the primary-key index is built on (point reads, updates
#    and deletes by _id become index lookups instead of scans);
# 2. a delete matching more documents than SQLite's variable limit (32,766) is run in
#    chunks instead of failing with "too many SQL variables";
# 3. equality and $in on top-level string fields are pushed down to SQLite (only a lone
#    _id was), so the indexes every service declares answer its filtered reads: the
#    annotations of a package, a job's packages, the outbox's pending events. Measured on
#    20,000 documents: the 50 of one package in 5 ms instead of 1.2 s (a scan). The
#    handler still applies the whole filter to what SQLite returns, so the pushed-down
#    condition only has to keep every document that may match (``explain`` shows the plan
#    of that statement);
# 4. each update of an ``update`` command closes its query before the next one runs. Stock
#    v1 keeps every update's query open (a SQLite connection each) until the whole command
#    ends, so one bulk write of about 100 updates exhausts the database's pool of 100
#    connections and waits for itself for ever, and with it every later write to that
#    database (tests/infra/test_stack.py has the 500-update case);
# 5. a database's writes take turns in FerretDB, in arrival order (a Go mutex per database
#    around each write statement and write transaction). SQLite has one writer per file;
#    stock, the others wait in SQLite's busy handler, which sleeps and polls (up to 100 ms
#    at a time), so a newcomer often takes the lock before a writer that has waited for
#    long: under 64 labelers a claim's four writes took 0.3 s at the median and 3 s at p99.
#    Readers are untouched (WAL: they never wait for the writer);
# 6. each database runs ``PRAGMA optimize`` when opened and every minute after. FerretDB
#    never runs ANALYZE, and without statistics SQLite guessed: the claim board's read of
#    a job's packages (``job_id`` and ``state $in``, the pushdown of patch 3) went through
#    the index on ``state`` alone, a scan of every package of every job in the workflow,
#    3.7 s per job on 229,000 packages and 93 s for a rebuild of 22 jobs; with statistics
#    it takes the (job, state, index) index: 8 ms.
FERRETDB_PATCH = (
    ("internal/backends/sqlite/metadata/metadata.go",
     "IDColumn = DefaultColumn + \"->'$._id'\"",
     "IDColumn = DefaultColumn + `->\"_id\"`"),
    ("internal/backends/sqlite/collection.go", _DELETE_ONE_STATEMENT, _DELETE_IN_CHUNKS),
    ("internal/backends/sqlite/collection.go", _QUERY_ID_ONLY, _QUERY_PUSHDOWN),
    ("internal/backends/sqlite/collection.go", _EXPLAIN_ID_ONLY, _EXPLAIN_PUSHDOWN),
    ("internal/backends/sqlite/collection.go", _INSERT_ALL_DOC, _LABELOPS_WHERE + _INSERT_ALL_DOC),
    ("internal/handler/msg_update.go", _UPDATE_CLOSER_DEFERRED, _UPDATE_CLOSER_NOW),
    ("internal/handler/msg_update.go", _UPDATE_RUN, _UPDATE_RUN_THEN_CLOSE),
    ("internal/util/fsql/db.go", _FSQL_IMPORTS, _FSQL_IMPORTS_SYNC),
    ("internal/util/fsql/db.go", _FSQL_FIELDS, _FSQL_FIELDS_WRITER),
    ("internal/util/fsql/db.go", _FSQL_EXEC, _FSQL_EXEC_ONE_WRITER),
    ("internal/util/fsql/db.go", _FSQL_BEGIN, _FSQL_BEGIN_ONE_WRITER),
    ("internal/backends/sqlite/metadata/pool/opendb.go", _OPENDB_IMPORTS, _OPENDB_IMPORTS_TIME),
    ("internal/backends/sqlite/metadata/pool/opendb.go", _OPENDB_RETURN,
     _OPENDB_RETURN_OPTIMIZED),
)


def _patched_ferretdb_source(go: str, wrapper: Path) -> Path:
    """FerretDB's module source from the Go module cache, copied and patched."""
    out = subprocess.run([go, "mod", "download", "-json", f"{versions.FERRETDB_MODULE}@"
                          f"{versions.FERRETDB_VERSION}"], cwd=wrapper, capture_output=True,
                         text=True, timeout=900, env={**os.environ, **_go_env()})
    if out.returncode != 0:
        raise StackError(f"go mod download of FerretDB failed: {out.stderr.strip()[-500:]}")
    module_dir = Path(json.loads(out.stdout)["Dir"])
    patched = paths.cache_dir() / "build" / f"ferretdb-{versions.FERRETDB_VERSION}-src"
    shutil.rmtree(patched, ignore_errors=True)
    shutil.copytree(module_dir, patched)
    for folder, _, files in os.walk(patched):  # the module cache is read-only
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(Path(folder) / name, 0o644)
    for relative, old, new in FERRETDB_PATCH:
        target = patched / relative
        text = target.read_text()
        if text.count(old) != 1:
            raise StackError(f"FerretDB {versions.FERRETDB_VERSION}: {relative} no longer has "
                             "the code the LabelOps patch replaces; review FERRETDB_PATCH")
        target.write_text(text.replace(old, new))
    return patched


def ensure_ferretdb() -> Path:
    """Build FerretDB (pinned in deploy/local/ferretdb/go.mod, with FERRETDB_PATCH) unless
    already built."""
    src = paths.DEPLOY_LOCAL / "ferretdb"
    binary = ferretdb_binary()
    stamp = paths.bin_dir() / "ferretdb.installed.json"
    want = {"component": "ferretdb", "version": versions.FERRETDB_VERSION,
            "inputs": _digest(src / "go.mod", src / "go.sum", src / "main.go"),
            "patch": hashlib.sha256(repr(FERRETDB_PATCH).encode()).hexdigest()[:16]}
    label = f"FerretDB {versions.FERRETDB_VERSION}"
    if _stamp_matches(stamp, want, binary):
        _cached(label)
        return binary
    with _install_lock():
        if _stamp_matches(stamp, want, binary):
            return binary
        _check_go_mod(src, versions.FERRETDB_MODULE, versions.FERRETDB_VERSION)
        go, go_version = _require_go()
        patched = _patched_ferretdb_source(go, src)
        build = patched.with_name("ferretdb-wrapper")
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        for name in ("go.mod", "go.sum", "main.go"):
            shutil.copy(src / name, build / name)
        with (build / "go.mod").open("a") as mod:
            mod.write(f"\nreplace {versions.FERRETDB_MODULE} => {patched}\n")
        fresh = binary.with_name("ferretdb.partial")
        _run(f"{label}: building with go build", "ferretdb-go",
             [go, "build", "-o", str(fresh), "."],
             cwd=build, env=_go_env(), hint=" (about 2 minutes the first time)")
        if not fresh.exists():
            raise StackError(f"go build did not produce {fresh}: see {_log_path('ferretdb-go')}")
        os.replace(fresh, binary)
        _write_stamp(stamp, want, go=go_version)
    return binary


# -- MinIO ---------------------------------------------------------------------------------


def minio_binary() -> Path:
    return paths.bin_dir() / "minio"


def _download(url: str, target: Path) -> None:
    part = target.with_name(target.name + ".part")
    console.print(f"[cyan]•[/cyan] downloading {url}")
    try:
        with urllib.request.urlopen(url, timeout=120) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise StackError(f"downloading {url} failed ({reason}): check the network or set "
                         "GOPROXY to a reachable Go module proxy") from exc
    os.replace(part, target)


def _upstream_goproxy(go: str) -> tuple[str, str]:
    """The user's GOPROXY list (to fall back on) and the first HTTP proxy in it (to fetch
    MinIO's source from)."""
    configured = _go_env_value(go, "GOPROXY") or f"{DEFAULT_GOPROXY},direct"
    http = [p for p in re.split(r"[,|]", configured) if p.startswith(("http://", "https://"))]
    return configured, (http[0] if http else DEFAULT_GOPROXY).rstrip("/")


def _seed_minio_proxy(go: str) -> str:
    """A file-based module proxy in the cache holding MinIO's pinned pseudo-version: the
    ``.mod`` and ``.zip`` from the Go proxy, and the ``.info`` and ``list`` it will not serve
    for a commit that is not a semver tag. Returns the GOPROXY value to build with."""
    version = versions.MINIO_MODULE_VERSION
    root = paths.cache_dir() / "goproxy"
    folder = root / "github.com" / "minio" / "minio" / "@v"
    folder.mkdir(parents=True, exist_ok=True)
    configured, upstream = _upstream_goproxy(go)
    for ext in ("mod", "zip"):
        target = folder / f"{version}.{ext}"
        if target.exists() and target.stat().st_size > 0:
            if ext != "zip" or zipfile.is_zipfile(target):
                continue
        _download(f"{upstream}/{versions.MINIO_MODULE}/@v/{version}.{ext}", target)
    if not zipfile.is_zipfile(folder / f"{version}.zip"):
        (folder / f"{version}.zip").unlink()
        raise StackError(f"the MinIO source from {upstream} is not a zip archive: try again, "
                         "or set GOPROXY to another Go module proxy")
    (folder / f"{version}.info").write_text(
        json.dumps({"Version": version, "Time": versions.MINIO_COMMIT_TIME}))
    (folder / "list").write_text(version + "\n")
    return f"file://{root},{configured}"


def ensure_minio() -> Path:
    """Build MinIO at its last release (pinned in deploy/local/minio) unless already built."""
    src = paths.DEPLOY_LOCAL / "minio"
    binary = minio_binary()
    stamp = paths.bin_dir() / "minio.installed.json"
    want = {"component": "minio", "release": versions.MINIO_RELEASE,
            "module_version": versions.MINIO_MODULE_VERSION,
            "inputs": _digest(src / "go.mod", src / "go.sum", src / "tools.go")}
    label = f"MinIO {versions.MINIO_RELEASE}"
    _adopt_legacy_stamp(paths.bin_dir() / "minio.installed",
                        f"minio {versions.MINIO_RELEASE} {_digest(src / 'go.mod', src / 'go.sum')}",
                        stamp, want)
    if _stamp_matches(stamp, want, binary):
        _cached(label)
        return binary
    with _install_lock():
        if _stamp_matches(stamp, want, binary):
            return binary
        _check_go_mod(src, versions.MINIO_MODULE, versions.MINIO_MODULE_VERSION)
        go, go_version = _require_go()
        proxy = _seed_minio_proxy(go)
        _run(f"{label}: building with go install", "minio-go",
             [go, "install", "-v", versions.MINIO_MODULE], cwd=src,
             hint=" (about 3-5 minutes the first time)",
             env=_go_env({"GOPROXY": proxy, "GONOSUMDB": versions.MINIO_MODULE,
                          "GOFLAGS": "-mod=mod"}))
        if not binary.exists():
            raise StackError(f"go install did not produce {binary}: see {_log_path('minio-go')}")
        _write_stamp(stamp, want, go=go_version)
    return binary


def ensure_all(*, ferretdb: bool = True) -> None:
    """Everything the native stack runs (FerretDB skipped when MONGO_URL names a database)."""
    ensure_kafka()
    if ferretdb:
        ensure_ferretdb()
    ensure_minio()
