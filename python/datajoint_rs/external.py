"""External stores: ``schema.external[store]`` and the ``~external_<store>`` tracking tables,
with DataJoint 0.14's object layout, so that both packages share stores and schemas.

Objects live in a store (``dj.config["stores"][name]``), a folder (``protocol: file``) or an
S3 bucket (``protocol: s3``, through the minio client):

- ``blob@store``: the packed blob, named by its MD5 (read as a UUID):
  ``{location}/{database}/{ab}/{cd}/{hex}`` with the store's ``subfolding`` (default (2, 2));
- ``attach@store``: the file, hashed over ``name`` + NUL + contents:
  ``{location}/{database}/{ab}/{cd}/{hex}.{name}``;
- ``filepath@store``: a file under the store's ``stage``, at the same relative path under
  ``location``; its UUID is the MD5 of the relative path, ``contents_hash`` the MD5 of the file.

Each object has one row in the schema's ``~external_<store>`` (hash, size, attachment_name,
filepath, contents_hash, timestamp). Transfers of many objects run in parallel
(``datajoint_rs.transfer``); checksums are computed natively, streaming, GIL released.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import tempfile
import threading
import uuid as uuid_module
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath

from . import _native, blob, s3
from .declare import EXTERNAL_TABLE_ROOT
from .errors import DataJointError, IntegrityError, MissingExternalFile
from .heading import Heading
from .settings import config
from .table import FreeTable, Table
from .transfer import ATTACH, BLOB, FILEPATH, atomic, run_parallel

logger = logging.getLogger(__name__.split(".")[0])

#: The local cache of external blobs (``dj.config["cache"]``) splits names like this.
CACHE_SUBFOLDING = (2, 2)
#: Blobs migrated from DataJoint 0.11 are stored at an explicit ``filepath`` (as 0.14 reads).
SUPPORT_MIGRATED_BLOBS = True
#: Hashes per ``WHERE hash IN (...)`` lookup.
_LOOKUP_BATCH = 1000


def subfold(name, folds):
    """Subfolders of ``name``: ``subfold("aBCdefg", (2, 3)) == ("ab", "cde")``."""
    folds = tuple(folds or ())
    out, start = [], 0
    for fold in folds:
        out.append(name[start : start + fold].lower())
        start += fold
    return tuple(out)


def file_md5(path, prefix=""):
    """MD5 of ``prefix`` (str) and the file at ``path``, as a UUID (native, streaming, GIL
    released). Remembered per (file, size, mtime, inode) for this process, so an insert
    retried after a rollback does not read a large file again (#1397)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, prefix)
    digest = _checksums.get(key)
    if digest is None:
        digest = uuid_module.UUID(bytes=_native.md5_file(os.fspath(path), prefix.encode()))
        with _checksums_lock:
            if len(_checksums) >= _CHECKSUM_MEMO:
                _checksums.pop(next(iter(_checksums)))
            _checksums[key] = digest
    return digest


#: Checksums remembered by ``file_md5`` (oldest dropped first).
_CHECKSUM_MEMO = 4096
_checksums: dict = {}
_checksums_lock = threading.Lock()


def buffer_md5(data):
    """MD5 of a bytes-like ``data`` as a UUID (native, GIL released)."""
    return uuid_module.UUID(bytes=_native.md5(data))


def _process_umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Files the stores write get the permissions a plain ``open(..., "w")`` gives (mkstemp's
#: temporary files are private, 0600: objects of a shared store must stay readable).
_FILE_MODE = 0o666 & ~_process_umask()


def _atomic_write(path, data):
    """Write ``data`` to ``path`` through a uniquely named temporary file in the same folder,
    renamed into place: readers (and concurrent writers of the same object) never see a
    partial file. An existing file is kept: objects are content-addressed."""
    path = Path(path)
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".saving")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(temp, _FILE_MODE)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _atomic_copy(src, dest, overwrite):
    """Copy ``src`` to ``dest`` the same way (skipped if they are the same file, or if
    ``dest`` exists and ``overwrite`` is false)."""
    src, dest = Path(src), Path(dest)
    if dest.exists() and (src.samefile(dest) or not overwrite):
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".copying")
    os.close(fd)
    try:
        shutil.copyfile(src, temp)
        os.chmod(temp, _FILE_MODE)
        os.replace(temp, dest)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class _Object:
    """One object of an insert: its hash, size, tracking values and where it comes from."""

    __slots__ = ("kind", "source", "name", "relative", "uuid", "size", "contents_hash", "skip")

    def __init__(self, kind, source, name=None, relative=None):
        self.kind = kind
        self.source = source  # packed bytes (blob) or a local Path (attach, filepath)
        self.name = name  # attachment name
        self.relative = relative  # filepath relative to the stage
        self.uuid = None
        self.size = None
        self.contents_hash = None
        self.skip = False  # filepath: checksum skipped (size limit)


class ExternalTable(Table):
    """The table tracking the objects of one external store in one schema:
    ``ExternalTable(connection, store, database)`` (declared if missing)."""

    def __init__(self, connection, store, database):
        self.store = store
        self.spec = config.get_store_spec(store)
        self._s3 = None
        self.database = database
        self._connection = connection
        self._heading = Heading(
            table_info=dict(
                conn=connection, database=database, table_name=self.table_name, context=None
            )
        )
        self._support = [self.full_table_name]
        if not self.is_declared:
            self.declare()
        if self.spec["protocol"] == "file" and not Path(self.spec["location"]).is_dir():
            raise FileNotFoundError(f"Inaccessible local directory {self.spec['location']}")

    @property
    def definition(self):
        return """
        # external storage tracking
        hash  : uuid    #  hash of contents (blob), of filename + contents (attach), or relative filepath (filepath)
        ---
        size      :bigint unsigned     # size of object in bytes
        attachment_name=null : varchar(255)  # the filename of an attachment
        filepath=null : varchar(1000)  # relative filepath or attachment filename
        contents_hash=null : uuid      # used for the filepath datatype
        timestamp=CURRENT_TIMESTAMP  :timestamp   # automatic timestamp
        """

    @property
    def table_name(self):
        return f"{EXTERNAL_TABLE_ROOT}_{self.store}"

    @property
    def s3(self):
        """The store's bucket (``s3.Folder``), connected on first use."""
        if self._s3 is None:
            if self.spec["protocol"] != "s3":
                raise DataJointError(f"Store `{self.store}` is not an s3 store")
            pool = max(10, int(config.get("external.transfer_workers", 8) or 1) + 2)
            self._s3 = s3.Folder(**self.spec, pool_size=pool)
        return self._s3

    @property
    def _is_s3(self):
        return self.spec["protocol"] == "s3"

    # ---- paths ---------------------------------------------------------------------------
    def _make_external_filepath(self, relative_filepath):
        """The object's full path: under ``location`` (for s3, a Windows drive or UNC root of
        ``location`` is dropped, as in 0.14)."""
        location = self.spec["location"]
        if self._is_s3:
            posix = PurePosixPath(PureWindowsPath(location))
            if location and any(c in posix.parts[0] for c in ("\\", ":")):
                return PurePosixPath(*posix.parts[1:], relative_filepath)
            return PurePosixPath(posix, relative_filepath)
        return PurePosixPath(Path(location), relative_filepath)

    def _make_uuid_path(self, uuid, suffix=""):
        """The path of a blob (``suffix=""``) or an attachment (``suffix="." + name``)."""
        folders = "/".join(subfold(uuid.hex, self.spec["subfolding"]))
        return self._make_external_filepath(
            PurePosixPath(self.database, folders, uuid.hex + suffix)
        )

    # ---- raw object I/O (thread-safe: no database access) ------------------------------
    def _upload_file(self, local_path, external_path, metadata=None):
        if self._is_s3:
            self.s3.fput(local_path, external_path, metadata)
            return
        try:
            _atomic_copy(local_path, external_path, overwrite=True)
        except OSError as err:
            raise DataJointError(f"Cannot store {local_path} as {external_path}: {err}") from None

    def _download_file(self, external_path, download_path):
        if self._is_s3:
            self.s3.fget(external_path, download_path)
        else:
            try:
                _atomic_copy(external_path, download_path, overwrite=False)
            except FileNotFoundError:
                raise MissingExternalFile(f"Missing external file {external_path}") from None

    def _upload_buffer(self, buffer, external_path):
        if self._is_s3:
            self.s3.put(external_path, buffer)
            return
        try:
            _atomic_write(external_path, buffer)
        except OSError as err:
            raise DataJointError(f"Cannot store {external_path}: {err}") from None

    def _download_buffer(self, external_path):
        if self._is_s3:
            return self.s3.get(external_path)
        try:
            return Path(external_path).read_bytes()
        except FileNotFoundError:
            raise MissingExternalFile(f"Missing external file {external_path}") from None

    def _remove_external_file(self, external_path):
        if self._is_s3:
            self.s3.remove_object(external_path)
        else:
            Path(external_path).unlink(missing_ok=True)

    def _stored_size(self, external_path):
        """Size of a stored object, or None if it is absent."""
        if self._is_s3:
            stat = self.s3.stat(external_path)
            return None if stat is None else stat.size
        try:
            return Path(external_path).stat().st_size
        except FileNotFoundError:
            return None

    def exists(self, external_filepath):
        """True if the object at ``external_filepath`` exists in the store."""
        if self._is_s3:
            return self.s3.exists(external_filepath)
        return Path(external_filepath).is_file()

    # ---- tracking rows -------------------------------------------------------------------
    def _tracked(self, uuids):
        """{uuid: (size, filepath, contents_hash)} of the tracking rows among ``uuids``."""
        out = {}
        uuids = list(dict.fromkeys(uuids))
        for start in range(0, len(uuids), _LOOKUP_BATCH):
            batch = uuids[start : start + _LOOKUP_BATCH]
            rows = self.connection.query(
                f"SELECT hash, size, filepath, contents_hash, attachment_name "
                f"FROM {self.full_table_name} WHERE hash IN ({','.join(['%s'] * len(batch))})",
                args=[u.bytes for u in batch],
            ).fetchall()
            for h, size, filepath, contents_hash, attachment_name in rows:
                out[uuid_module.UUID(bytes=bytes(h))] = (
                    int(size),
                    filepath,
                    uuid_module.UUID(bytes=bytes(contents_hash)) if contents_hash else None,
                    attachment_name,
                )
        return out

    def _tracking_statements(self, objects):
        """[(sql, args)] inserting the tracking rows of newly stored ``objects``: blobs and
        attachments already tracked only get a new timestamp; a filepath must be new."""
        touch = self.adapter.touch_on_duplicate_clause()
        kinds = (
            (BLOB, ("hash", "size"), lambda o: (o.uuid.bytes, o.size), touch),
            (
                ATTACH,
                ("hash", "size", "attachment_name"),
                lambda o: (o.uuid.bytes, o.size, o.name),
                touch,
            ),
            (
                FILEPATH,
                ("hash", "size", "filepath", "contents_hash"),
                lambda o: (
                    o.uuid.bytes,
                    o.size,
                    o.relative,
                    o.contents_hash.bytes if o.contents_hash else None,
                ),
                "",
            ),
        )
        statements = []
        for kind, columns, row, tail in kinds:
            of_kind = [o for o in objects if o.kind == kind]
            marks = "(" + ",".join(["%s"] * len(columns)) + ")"
            for start in range(0, len(of_kind), _LOOKUP_BATCH):
                part = of_kind[start : start + _LOOKUP_BATCH]
                statements.append(
                    (
                        f"INSERT INTO {self.full_table_name} ({', '.join(columns)}) VALUES "
                        + ",".join([marks] * len(part))
                        + tail,
                        [v for o in part for v in row(o)],
                    )
                )
        return statements

    # ---- staging objects for an insert ---------------------------------------------------
    def _describe(self, pending):
        """An ``_Object`` for one pending value (checks paths; reads nothing yet)."""
        if pending.kind == BLOB:
            return _Object(BLOB, pending.value)
        path = Path(pending.value)
        if pending.kind == ATTACH:
            if not path.is_file():
                raise DataJointError(f"Cannot attach {path}: not a readable file")
            return _Object(ATTACH, path, name=path.name)
        stage = self.spec.get("stage")
        if stage is None:
            raise DataJointError(
                f'Store `{self.store}` has no "stage": filepath attributes need one '
                f'(dj.config["stores"]["{self.store}"]["stage"])'
            )
        try:
            relative = path.relative_to(stage).as_posix()
        except ValueError:
            raise DataJointError(f"The path {path.parent} is not in stage {stage}") from None
        if not path.is_file():
            raise DataJointError(f"Cannot insert filepath {path}: not a readable file")
        return _Object(FILEPATH, path, relative=relative)

    def _checksum(self, obj):
        """Fill in the object's hash, size and contents hash (runs on the thread pool)."""
        if obj.kind == BLOB:
            obj.size = len(obj.source)
            obj.uuid = buffer_md5(obj.source)
        elif obj.kind == ATTACH:
            obj.size = obj.source.stat().st_size
            obj.uuid = file_md5(obj.source, obj.name + "\0")
        else:
            obj.size = obj.source.stat().st_size
            obj.uuid = uuid_module.UUID(bytes=_native.md5(obj.relative.encode()))
            limit = config.get("filepath_checksum_size_limit_insert")
            obj.skip = limit is not None and obj.size > limit
            obj.contents_hash = None if obj.skip else file_md5(obj.source)
        return obj

    def _store(self, obj, tracked):
        """Upload one object unless the store already has it (runs on the thread pool)."""
        if obj.kind == BLOB:
            path = self._make_uuid_path(obj.uuid)
            if self._is_s3 and tracked and self._stored_size(path) == obj.size:
                return
            self._upload_buffer(obj.source, path)
        elif obj.kind == ATTACH:
            path = self._make_uuid_path(obj.uuid, "." + obj.name)
            if (tracked or not self._is_s3) and self._stored_size(path) == obj.size:
                return  # content-addressed (name and contents): the same bytes
            self._upload_file(obj.source, path)
        else:
            path = self._make_external_filepath(obj.relative)
            if self._is_s3:
                stat = self.s3.stat(path)
                same = (
                    stat is not None
                    and stat.size == obj.size
                    and (obj.skip or s3.remote_contents_hash(stat) == str(obj.contents_hash))
                )
            else:  # (a stage inside the store's location is the same file: no copy)
                same = self._stored_size(path) == obj.size and (
                    obj.skip or file_md5(path) == obj.contents_hash
                )
            if same:
                logger.info("%s is already in the store, not uploaded again", obj.relative)
                return
            metadata = {"contents_hash": str(obj.contents_hash) if obj.contents_hash else ""}
            self._upload_file(obj.source, path, metadata)

    def stage(self, pending):
        """Checksum and upload the objects of ``pending`` values (``transfer.PendingObject``)
        in parallel, before any transaction. Returns (their hashes, in order; the tracking
        statements to run together with the data rows). Raises before anything is tracked if
        a file is unreadable, a filepath conflicts with its tracking row, or an upload fails.
        """
        objects = [self._describe(p) for p in pending]
        if self._is_s3 and objects:
            self.s3  # noqa: B018 - connect once, before the threads use the client
        blobs = [o for o in objects if o.kind == BLOB]
        files = [o for o in objects if o.kind != BLOB]
        # blobs: packed, hashed and uploaded in one pipeline per object, so that compression
        # (GIL released) and transfers overlap. Content-addressed: no lookup is needed first
        # (a file store skips objects it has; S3 overwrites them with the same bytes, as 0.14)
        run_parallel(
            self._pack_and_store, blobs, desc=f"upload ({self.store})", local=not self._is_s3
        )
        # files: checksummed first, then checked against their tracking rows, then uploaded
        run_parallel(self._checksum, files, desc=f"checksum ({self.store})", local=True)
        tracked = self._tracked(o.uuid for o in files)
        unique, to_track, to_store = {}, [], []
        for o in objects:
            if o.uuid in unique:
                continue
            unique[o.uuid] = o
            if o.kind == FILEPATH and o.skip:
                logger.warning(
                    "Skipping checksum for '%s' (%d bytes > %s byte limit)",
                    o.relative,
                    o.size,
                    config.get("filepath_checksum_size_limit_insert"),
                )
            if o.kind == FILEPATH and o.uuid in tracked:
                _, _, contents_hash, _ = tracked[o.uuid]
                if not o.skip and contents_hash != o.contents_hash:
                    raise DataJointError(
                        f"A different version of '{o.relative}' has already been placed."
                    )
                continue  # already stored and tracked
            to_track.append(o)
            if o.kind != BLOB:
                to_store.append(o)
        run_parallel(
            lambda o: self._store(o, o.uuid in tracked),
            to_store,
            desc=f"upload ({self.store})",
            local=not self._is_s3,
        )
        return [o.uuid for o in objects], self._tracking_statements(to_track)

    def _pack_and_store(self, obj):
        obj.source = blob.pack(obj.source)
        self._checksum(obj)
        self._store(obj, tracked=False)

    def _track_now(self, objects_pending):
        hashes, statements = self.stage(objects_pending)
        with atomic(self.connection):
            for sql, args in statements:
                self.connection.query(sql, args=args)
        return hashes[0]

    # ---- BLOBS ---------------------------------------------------------------------------
    def put(self, blob_bytes):
        """Store packed blob bytes; returns their hash (UUID). Tracked at once (0.14 API)."""
        obj = _Object(BLOB, bytes(blob_bytes))
        self._checksum(obj)
        tracked = self._tracked([obj.uuid])
        self._store(obj, obj.uuid in tracked)
        with atomic(self.connection):
            for sql, args in self._tracking_statements([obj]):
                self.connection.query(sql, args=args)
        return obj.uuid

    def get(self, uuid):
        """The packed bytes of the blob ``uuid`` (from the local cache if configured)."""
        if uuid is None:
            return None
        return self.get_many([uuid])[0]

    def get_many(self, uuids, decode=None):
        """The packed bytes of many blobs, downloaded in parallel (None stays None); with
        ``decode``, ``decode(bytes)`` of each instead, run right after its download on the same
        worker thread, so decoding overlaps the other transfers. A blob used by several rows
        is downloaded once and decoded once per row (rows never share a mutable value)."""
        cache = config.get("cache")
        uses = collections.Counter(u for u in uuids if u is not None)
        wanted = list(uses)
        if self._is_s3 and wanted:
            self.s3  # noqa: B018 - connect once, before the threads use the client

        def load(u):
            data = None
            if cache:
                cached = Path(cache, *subfold(u.hex, CACHE_SUBFOLDING), u.hex)
                try:
                    data = cached.read_bytes()
                except FileNotFoundError:
                    pass
            if data is None:
                try:
                    data = self._download_buffer(self._make_uuid_path(u))
                except MissingExternalFile as err:
                    return err, None  # maybe a blob migrated from 0.11: looked up below
                if cache:
                    _atomic_write(cached, data)
            if decode is None:
                return data, data
            return (data if uses[u] > 1 else None), decode(data)

        found = dict(
            zip(
                wanted,
                run_parallel(load, wanted, desc=f"download ({self.store})", local=not self._is_s3),
                strict=True,
            )
        )
        for u, (raw, _) in found.items():
            if isinstance(raw, MissingExternalFile):
                raw = self._get_migrated(u, raw)
                found[u] = (raw, raw if decode is None else decode(raw))
        out = []
        first = set()
        for u in uuids:
            if u is None:
                out.append(None)
            elif decode is None or u not in first:
                first.add(u)
                out.append(found[u][1])
            else:
                out.append(decode(found[u][0]))
        return out

    def _get_migrated(self, uuid, error):
        if not SUPPORT_MIGRATED_BLOBS:
            raise error
        rows = self._tracked([uuid])
        relative = rows.get(uuid, (None, None, None, None))[1]
        if relative is None:
            raise error
        data = self._download_buffer(self._make_external_filepath(relative))
        cache = config.get("cache")
        if cache:
            _atomic_write(Path(cache, *subfold(uuid.hex, CACHE_SUBFOLDING), uuid.hex), data)
        return data

    # ---- ATTACHMENTS ---------------------------------------------------------------------
    def upload_attachment(self, local_path):
        """Store the file ``local_path`` as an attachment; returns its hash."""
        from .transfer import PendingObject

        return self._track_now([PendingObject(ATTACH, self.store, local_path)])

    def get_attachment_name(self, uuid):
        """The file name recorded for the attachment ``uuid``."""
        return (self & {"hash": uuid}).fetch1("attachment_name")

    def attachment_names(self, uuids):
        """{uuid: attachment name} for many attachments (one query per 1000)."""
        return {u: row[3] for u, row in self._tracked(uuids).items()}

    def download_attachment(self, uuid, attachment_name, download_path):
        """Save the attachment ``uuid`` as the file ``download_path``."""
        self._download_file(self._make_uuid_path(uuid, "." + attachment_name), download_path)

    # ---- FILEPATH ------------------------------------------------------------------------
    def upload_filepath(self, local_filepath):
        """Store the file ``local_filepath`` (under the store's stage) at the same relative
        path in the store; returns the hash of its relative path. An already tracked file
        must have the same contents (DataJointError otherwise) and is not uploaded again."""
        from .transfer import PendingObject

        return self._track_now([PendingObject(FILEPATH, self.store, local_filepath)])

    def download_filepath(self, filepath_hash):
        """Bring the managed file ``filepath_hash`` to its place under the stage (unless an
        identical copy is there); returns (local path, contents hash)."""
        if filepath_hash is None:
            return None
        return self.download_filepaths([filepath_hash])[0]

    def download_filepaths(self, hashes):
        """``download_filepath`` for many hashes, transfers in parallel."""
        wanted = list(dict.fromkeys(h for h in hashes if h is not None))
        if self._is_s3 and wanted:
            self.s3  # noqa: B018 - connect once, before the threads use the client
        rows = self._tracked(wanted)
        missing = [h for h in wanted if h not in rows]
        if missing:
            raise DataJointError(
                f"No tracking row in {self.full_table_name} for filepath {missing[0]}"
            )
        stage = self.spec.get("stage")
        if stage is None:
            raise DataJointError(f'Store `{self.store}` has no "stage" to download filepaths to')
        stage = Path(stage).absolute()
        limit = config.get("filepath_checksum_size_limit")

        def need_checksum(local, expected_size):
            actual = local.stat().st_size
            if actual != expected_size:
                raise DataJointError(f"'{local}' downloaded but size did not match.")
            return limit is None or actual < limit

        def sync(h):
            size, relative, contents_hash, _ = rows[h]
            local = stage / relative
            present = local.is_file()
            if present:
                try:
                    present = not need_checksum(local, size) or file_md5(local) == contents_hash
                except DataJointError:
                    present = False  # a different file under the same name: replace it
            if not present:
                external_path = self._make_external_filepath(relative)
                if local.exists():
                    local.unlink()
                self._download_file(external_path, local)
                if need_checksum(local, size) and file_md5(local) != contents_hash:
                    raise DataJointError(f"'{local}' downloaded but did not pass checksum.")
            if not need_checksum(local, size):
                logger.warning(
                    "Skipped checksum for file with hash: %s, and path: %s", contents_hash, local
                )
            return str(local), contents_hash

        done = dict(
            zip(
                wanted,
                run_parallel(sync, wanted, desc=f"download ({self.store})", local=not self._is_s3),
                strict=True,
            )
        )
        return [None if h is None else done[h] for h in hashes]

    # ---- UTILITIES -----------------------------------------------------------------------
    @property
    def references(self):
        """Generator of dicts ``{"referencing_table": "`db`.`table`", "column_name": ...}``,
        one per column (of any schema) with a foreign key to this table."""
        return iter(
            self.adapter.referencing_columns(self.connection, self.database, self.table_name)
        )

    def _referencing(self):
        # Only non-NULL references: 0.14 compared with NOT IN over columns holding NULLs,
        # which is never true, so unused() found nothing (#1000).
        return [
            (
                FreeTable(self.connection, ref["referencing_table"])
                & f"`{ref['column_name']}` IS NOT NULL"
            ).proj(hash=ref["column_name"])
            for ref in self.references
        ]

    def fetch_external_paths(self, **fetch_kwargs):
        """[(hash, full object path)] of the tracked objects of this (restricted) table."""
        fetch_kwargs.update(as_dict=True)
        paths = []
        for item in self.fetch("hash", "attachment_name", "filepath", **fetch_kwargs):
            if item["attachment_name"]:
                path = self._make_uuid_path(item["hash"], "." + item["attachment_name"])
            elif item["filepath"]:
                path = self._make_external_filepath(item["filepath"])
            else:
                path = self._make_uuid_path(item["hash"])
            paths.append((item["hash"], path))
        return paths

    def unused(self):
        """This table restricted to the objects no row of any referencing table uses."""
        return self - self._referencing()

    def used(self):
        """This table restricted to the objects some referencing row uses."""
        return self & self._referencing()

    def _shared_filepaths(self, relatives):
        """The filepaths among ``relatives`` that another schema's tracking table of this
        store also lists (filepath objects are not prefixed by schema, so schemas can share
        them)."""
        relatives = list(dict.fromkeys(relatives))
        if not relatives:
            return set()
        others = [
            db
            for db in self.adapter.schemas_with_table(self.connection, self.table_name)
            if db != self.database
        ]
        shared = set()
        for database in others:
            try:
                rows = self.connection.query(
                    f"SELECT DISTINCT filepath FROM `{database}`.`{self.table_name}` "
                    f"WHERE filepath IN ({','.join(['%s'] * len(relatives))})",
                    args=relatives,
                ).fetchall()
            except Exception:  # noqa: BLE001 - an unreadable schema may use any of them
                return set(relatives)
            shared.update(r[0] for r in rows)
        return shared

    def delete(
        self,
        *,
        delete_external_files=None,
        limit=None,
        display_progress=True,
        errors_as_string=True,
    ):
        """Remove the tracking rows of unused objects (``self.unused()``) and, with
        ``delete_external_files=True``, the objects themselves; returns the list of
        (hash, path, error) of objects that could not be removed (their rows are kept).

        Objects go in batches, each in one transaction: their tracking rows are deleted
        (refused by the server if a referencing row appeared meanwhile: the batch is then
        redone object by object, skipping the referenced ones), the objects are removed in
        parallel, the rows of objects that could not be removed are put back, and the
        transaction commits. So no referenced object is removed and no row is left pointing
        at a removed object."""
        if delete_external_files not in (True, False):
            raise DataJointError(
                "The delete_external_files argument must be set to either True or False in delete()"
            )
        if not delete_external_files:
            self.unused().delete_quick()
            return None
        items = self.unused().fetch_external_paths(limit=limit)
        bar = None
        if display_progress:
            from tqdm import tqdm

            bar = tqdm(total=len(items))
        errors = []
        try:
            for start in range(0, len(items), _DELETE_BATCH):
                batch = items[start : start + _DELETE_BATCH]
                try:
                    errors += self._delete_batch(batch, errors_as_string)
                except IntegrityError:  # some object is referenced again: one by one
                    for item in batch:
                        try:
                            errors += self._delete_batch([item], errors_as_string)
                        except IntegrityError:
                            pass  # referenced again meanwhile: kept, and so is its object
                if bar is not None:
                    bar.update(len(batch))
        finally:
            if bar is not None:
                bar.close()
        return errors

    def _delete_batch(self, items, errors_as_string):
        """Delete the tracking rows and objects of ``items`` [(hash, path)] in one
        transaction (see ``delete``); returns the errors of removals that failed."""
        columns = "hash, size, attachment_name, filepath, contents_hash, timestamp"
        marks = ",".join(["%s"] * len(items))
        errors = []
        with atomic(self.connection):
            # the rows are locked from here to the commit: nobody can reference them meanwhile
            rows = self.connection.query(
                f"SELECT {columns} FROM {self.full_table_name} WHERE hash IN ({marks})"
                + self.adapter.lock_rows_clause,
                args=[u.bytes for u, _ in items],
            ).fetchall()
            if not rows:
                return errors
            found = {bytes(r[0]): r for r in rows}
            self.connection.query(
                f"DELETE FROM {self.full_table_name} WHERE hash IN ({','.join(['%s'] * len(found))})",
                args=list(found),
            )
            shared = self._shared_filepaths(
                r[3]
                for r in rows
                if r[3] is not None and not r[2]  # filepaths, not attachments
            )
            doomed = [
                (u, path)
                for u, path in items
                if u.bytes in found and not (found[u.bytes][3] in shared and not found[u.bytes][2])
            ]

            def remove(item):
                try:
                    self._remove_external_file(item[1])
                except Exception as err:  # noqa: BLE001 - reported, the row goes back
                    return err
                return None

            failures = run_parallel(
                remove,
                doomed,
                desc=f"delete ({self.store})",
                progress=False,
                local=not self._is_s3,
            )
            restore = []
            for (u, path), err in zip(doomed, failures, strict=True):
                if err is not None:
                    errors.append((u, path, str(err) if errors_as_string else err))
                    restore.append(found[u.bytes])
            if restore:
                self.connection.query(
                    f"INSERT INTO {self.full_table_name} ({columns}) VALUES "
                    + ",".join(["(%s,%s,%s,%s,%s,%s)"] * len(restore)),
                    args=[v for row in restore for v in row],
                )
        return errors


#: Objects per transaction of ``ExternalTable.delete``.
_DELETE_BATCH = 200


def external_table(connection, database, store):
    """The ``ExternalTable`` of ``store`` in ``database``: the schema's own
    (``schema.external[store]``) when the schema is activated on ``connection``, else one
    kept on the connection (tables of schemas reached only through a FreeTable, say)."""
    schema = connection.schemas.get(database)
    if schema is not None:
        return schema.external[store]
    mappings = connection.__dict__.setdefault("_external_mappings", {})
    if database not in mappings:
        mappings[database] = ExternalMapping(_SchemaRef(connection, database))
    return mappings[database][store]


class _SchemaRef:
    """What ``ExternalMapping`` needs of a schema: its connection and database name."""

    def __init__(self, connection, database):
        self.connection = connection
        self.database = database


class ExternalMapping(Mapping):
    """The external tables of one schema, one per store, created on first use:
    ``schema.external[store]``."""

    def __init__(self, schema):
        self.schema = schema
        self._tables = {}

    def __repr__(self):
        return f"External file tables for schema `{self.schema.database}`:\n    " + "\n    ".join(
            '"{store}" {protocol}:{location}'.format(store=k, **v.spec) for k, v in self.items()
        )

    def __getitem__(self, store):
        """The ExternalTable of ``store`` (validating the store's spec and declaring the table
        on first use)."""
        if store not in self._tables:
            self._tables[store] = ExternalTable(
                connection=self.schema.connection, store=store, database=self.schema.database
            )
        return self._tables[store]

    def __len__(self):
        return len(self._tables)

    def __iter__(self):
        return iter(self._tables)


__all__ = ["ExternalMapping", "ExternalTable", "external_table", "subfold"]
