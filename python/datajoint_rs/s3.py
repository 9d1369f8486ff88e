"""S3-compatible object storage through the ``minio`` client (as DataJoint 0.14).

``Folder(**store_spec)`` wraps one bucket. Every storage error comes out as a
``DataJointError`` (``MissingExternalFile`` for absent objects, ``BucketInaccessible`` for a
bucket that cannot be reached or refuses the credentials) instead of the client's raw
``S3Error`` / ``urllib3`` exceptions (0.14 let XML-parse and OS errors through, #1083).

The client is thread-safe (one urllib3 pool shared by all threads); its pool is sized for the
transfer thread pool of ``datajoint_rs.transfer`` so parallel transfers do not queue for
connections.
"""

from __future__ import annotations

import io
import logging
import uuid
from pathlib import Path

from .errors import BucketInaccessible, DataJointError, MissingExternalFile

logger = logging.getLogger(__name__.split(".")[0])

#: Error codes of S3 meaning "this object is not there".
_MISSING = frozenset({"NoSuchKey", "NoSuchObject", "NotFound"})
#: Error codes of S3 meaning "these credentials or this bucket cannot be used".
_REFUSED = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "NoSuchBucket"}
)


def _minio():
    try:
        import minio
        import urllib3
    except ImportError:  # pragma: no cover - minio is a declared dependency
        raise DataJointError("S3 stores need the minio client: pip install minio") from None
    return minio, urllib3


class Folder:
    """The objects of one bucket of an S3-compatible store."""

    def __init__(
        self,
        endpoint,
        bucket,
        access_key,
        secret_key,
        *,
        secure=False,
        proxy_server=None,
        pool_size=16,
        **_,
    ):
        minio, urllib3 = _minio()
        retries = urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504])
        timeout = urllib3.Timeout(connect=10, read=300)
        if proxy_server:
            http = urllib3.ProxyManager(
                proxy_server,
                timeout=timeout,
                cert_reqs="CERT_REQUIRED",
                retries=retries,
                maxsize=pool_size,
            )
        else:
            http = urllib3.PoolManager(timeout=timeout, retries=retries, maxsize=pool_size)
        self.client = minio.Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            http_client=http,
        )
        self.bucket = bucket
        self.endpoint = endpoint
        try:
            found = self.client.bucket_exists(bucket)
        except Exception as err:  # noqa: BLE001 - any client failure means "unusable"
            raise BucketInaccessible(
                f"Inaccessible s3 bucket {bucket} at {endpoint}: {_describe(err)}"
            ) from None
        if not found:
            raise BucketInaccessible(f"Inaccessible s3 bucket {bucket} at {endpoint}")

    def _fail(self, action, name, err):
        code = getattr(err, "code", None)
        if code in _MISSING:
            return MissingExternalFile(f"Missing s3 key {name} in bucket {self.bucket}")
        if code in _REFUSED:
            return BucketInaccessible(
                f"S3 {action} of {name} in bucket {self.bucket} refused: {_describe(err)}"
            )
        return DataJointError(
            f"S3 {action} of {name} in bucket {self.bucket} failed: {_describe(err)}"
        )

    def put(self, name, buffer, metadata=None):
        """Store the bytes ``buffer`` as object ``name``."""
        logger.debug("put: %s:%s", self.bucket, name)
        try:
            return self.client.put_object(
                self.bucket, str(name), io.BytesIO(buffer), length=len(buffer), metadata=metadata
            )
        except Exception as err:  # noqa: BLE001
            raise self._fail("put", name, err) from None

    def fput(self, local_file, name, metadata=None):
        """Upload the file ``local_file`` as object ``name`` (streamed, multipart if large)."""
        logger.debug("fput: %s -> %s:%s", local_file, self.bucket, name)
        try:
            return self.client.fput_object(
                self.bucket, str(name), str(local_file), metadata=metadata
            )
        except OSError as err:
            raise DataJointError(f"Cannot read {local_file}: {err}") from None
        except Exception as err:  # noqa: BLE001
            raise self._fail("upload", name, err) from None

    def get(self, name):
        """The bytes of object ``name``."""
        logger.debug("get: %s:%s", self.bucket, name)
        response = None
        try:
            response = self.client.get_object(self.bucket, str(name))
            return response.read()
        except Exception as err:  # noqa: BLE001
            raise self._fail("get", name, err) from None
        finally:
            if response is not None:
                response.close()
                response.release_conn()

    def fget(self, name, local_filepath):
        """Download object ``name`` to ``local_filepath`` (through a temporary file, so an
        interrupted download leaves no partial file under the final name); returns the
        ``contents_hash`` recorded in the object's metadata, if any."""
        logger.debug("fget: %s:%s -> %s", self.bucket, name, local_filepath)
        local_filepath = Path(local_filepath)
        local_filepath.parent.mkdir(parents=True, exist_ok=True)
        try:
            stat = self.client.fget_object(self.bucket, str(name), str(local_filepath))
        except OSError as err:
            raise DataJointError(f"Cannot write {local_filepath}: {err}") from None
        except Exception as err:  # noqa: BLE001
            raise self._fail("download", name, err) from None
        meta = _metadata(stat)
        value = meta.get("contents_hash")
        return uuid.UUID(value) if value else None

    def stat(self, name):
        """The object's stat (``size``, ``metadata``), or None if it does not exist."""
        logger.debug("stat: %s:%s", self.bucket, name)
        try:
            return self.client.stat_object(self.bucket, str(name))
        except Exception as err:  # noqa: BLE001
            error = self._fail("stat", name, err)
            if isinstance(error, MissingExternalFile) or getattr(err, "status", None) == 404:
                return None
            raise error from None

    def exists(self, name):
        """True if object ``name`` exists."""
        return self.stat(name) is not None

    def get_size(self, name):
        """Size in bytes of object ``name``; MissingExternalFile if absent."""
        stat = self.stat(name)
        if stat is None:
            raise MissingExternalFile(f"Missing s3 key {name} in bucket {self.bucket}")
        return stat.size

    def remove_object(self, name):
        """Delete object ``name`` (deleting an absent object is not an error in S3)."""
        logger.debug("remove_object: %s:%s", self.bucket, name)
        try:
            self.client.remove_object(self.bucket, str(name))
        except Exception as err:  # noqa: BLE001
            raise DataJointError(
                f"Failed to delete {name} from s3 storage: {_describe(err)}"
            ) from None


def _metadata(stat):
    """User metadata of an object stat, keys without the ``x-amz-meta-`` prefix."""
    out = {}
    for key, value in (getattr(stat, "metadata", None) or {}).items():
        key = key.lower()
        if key.startswith("x-amz-meta-"):
            out[key[len("x-amz-meta-") :]] = value
    return out


def remote_contents_hash(stat):
    """The ``contents_hash`` recorded in an object's metadata (str), or ""."""
    return _metadata(stat).get("contents_hash", "")


def _describe(err):
    code = getattr(err, "code", None)
    message = getattr(err, "message", None)
    if code:
        return f"{code}: {message}" if message else str(code)
    return f"{type(err).__name__}: {err}"


__all__ = ["Folder", "remote_contents_hash"]
