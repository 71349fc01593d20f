"""The error tree: each class name is also the Lambda errorType that the ASL matches."""

from __future__ import annotations


class BottlesyncError(Exception):
    """Base: every error we raise on purpose."""


class ConfigError(BottlesyncError):
    """Bad usage, config file or setting: exit 2, nothing written."""


class DestinationError(ConfigError):
    """A local destination that is a file, is not writable, or holds a symlink leading out."""


class InvalidInput(BottlesyncError):
    """An event, plan or result fragment that does not have the documented shape."""


class CatalogError(BottlesyncError):
    """The catalogue cannot be fetched or parsed at all: fatal, nothing written."""


class CatalogUnavailable(CatalogError):
    """The catalogue host failed transiently on every attempt: the state machine retries later."""


class ApiVerificationError(CatalogError):
    """A Homebrew API file whose signature does not verify: fatal, nothing written."""


class InvalidEntry(BottlesyncError):
    """One catalogue entry is unusable: it is reported and skipped, never fatal."""


class UpstreamError(BottlesyncError):
    """An upstream answer that a retry will not fix (404, 401, disallowed host...)."""


class NotModified(BottlesyncError):
    """The upstream answered a conditional request with 304: what we hold is current."""


class TransientUpstreamError(UpstreamError):
    """Worth a retry: 408/429/5xx, connection reset or refused, timeout, truncated body."""


class DisallowedURL(UpstreamError):
    """A URL or redirect that leaves the allowed hosts or is not https."""


class BodyTooLarge(UpstreamError):
    """A body longer than the registry announced (or than max_bottle_size): cut off, not kept."""


class TransferStalled(UpstreamError):
    """A download slower than the low-speed limit, or past its deadline: given up, not retried."""


class DigestMismatch(BottlesyncError):
    """Downloaded bytes whose sha256 differs from the catalogue's: never made visible."""

    def __init__(self, key: str, expected: str, actual: str) -> None:
        super().__init__(f"{key}: sha256 {actual} does not match the catalogue's {expected}")
        self.key = key
        self.expected = expected
        self.actual = actual


class StorageError(BottlesyncError):
    """The destination refused a read or write."""


class UnsafeKey(StorageError):
    """A key that would escape the destination prefix."""


class ManifestError(BottlesyncError):
    """bottles_hash.json (or a seed manifest) is unreadable: never overwritten."""


class ManifestConflict(BottlesyncError):
    """Another writer changed the manifest between our read and our write: retry."""


class DeltaError(BottlesyncError):
    """An export/import delta that is malformed, tampered or hostile: refused whole."""


class PruneRefused(BottlesyncError):
    """Prune cannot know what is still wanted (empty or unreadable catalogue or API)."""


TRANSIENT_ERRORS: tuple[type[BottlesyncError], ...] = (TransientUpstreamError, ManifestConflict,
                                                       CatalogUnavailable)


class Failure:
    """One reported failure: what it was about, the error class, a message naming the object."""

    __slots__ = ("bottle", "error", "message")

    def __init__(self, bottle: str, error: str, message: str) -> None:
        self.bottle = bottle
        self.error = error
        self.message = message

    @classmethod
    def of(cls, bottle: str, exc: BaseException) -> Failure:
        """A failure from a caught exception (its class name is the error)."""
        return cls(bottle, type(exc).__name__, str(exc) or type(exc).__name__)

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Failure:
        """Back from the JSON of a fragment or a run record."""
        return cls(str(data["bottle"]), str(data["error"]), str(data["message"]))

    def to_dict(self) -> dict[str, str]:
        """The `failures[]` shape of the CLI's --json output."""
        return {"bottle": self.bottle, "error": self.error, "message": self.message}


class FailureRateExceeded(BottlesyncError):
    """More planned bottles failed than sync.max_failure_rate allows: the sync is FAILED."""


class BatchCrashed(BottlesyncError):
    """A Mirror batch ended without a result for its bottles: the sync is FAILED."""


class TaskFailed(BottlesyncError):
    """The Fargate task stopped non-zero (or never ran): the sync is FAILED."""


STORAGE_ERRORS: frozenset[str] = frozenset({"StorageError", "UnsafeKey"})
