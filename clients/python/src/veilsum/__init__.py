"""veilsum: submit model updates to your bank's aggregation peer and get the secure aggregate back.

    import veilsum
    client = veilsum.Client("peer.bank.internal:7443", ca_cert="peer-ca.pem", cert="me.pem", key="me-key.pem")
    submission = client.submit("fraud-model", model.coef_)
    result = client.wait(submission)
    result.average  # the consortium's average update, as float64
"""

from .client import ClippedValuesWarning, Client, Consent, RoundInfo, Submission, UpdateStatus, is_round_id
from .errors import (
    AlreadyExists,
    ConfigurationError,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidUpdate,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    RoundNotAvailable,
    Unauthenticated,
    Unavailable,
    UpdateDropped,
    UploadInProgress,
    VeilsumError,
)
from .result import Result
from .safetensors import NamedTensor, parse_safetensors, read_safetensors
from .updates import FlatUpdate, TensorInfo, flatten

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "Client",
    "ClippedValuesWarning",
    "ConfigurationError",
    "Consent",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FlatUpdate",
    "InvalidUpdate",
    "NamedTensor",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Result",
    "RoundInfo",
    "RoundNotAvailable",
    "Submission",
    "TensorInfo",
    "Unauthenticated",
    "Unavailable",
    "UpdateDropped",
    "UpdateStatus",
    "UploadInProgress",
    "VeilsumError",
    "flatten",
    "is_round_id",
    "parse_safetensors",
    "read_safetensors",
]
