"""Exception hierarchy: every failure a user can cause surfaces as a WebinferError subclass."""


class WebinferError(Exception):
    """Base class of all errors raised by webinfer."""


class ModelLoadError(WebinferError):
    """The model bytes are not a readable ONNX model (truncated, garbled, unsupported encoding)."""


class UnsupportedOpError(WebinferError):
    """A node uses an operator (or an operator variant) that no selected backend implements."""


class UnsupportedModelError(ModelLoadError, UnsupportedOpError):
    """The file is valid ONNX but uses a feature webinfer does not implement (non-tensor values,
    sparse or string tensors, exotic element types); catchable as either parent."""


class ShapeError(WebinferError):
    """Shapes or dtypes in the graph are inconsistent, so no plan can be built."""


class InputError(WebinferError):
    """The feeds passed to run() do not match the model's inputs (name, dtype, shape)."""


class BackendError(WebinferError):
    """A backend cannot be used here (not built, not available) or failed while executing."""
