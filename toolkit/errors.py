"""Typed errors. Each carries one user-facing line: what went wrong, why, and what to do."""


class MliteError(Exception):
    """Base class; ``str(err)`` is the message the CLI prints."""

    exit_code = 2

    def for_option(self, used: str, typed: str) -> "MliteError":
        """The same error, naming the option the user typed (``typed``) where a shared check named ``used``
        (e.g. --device ssh:X for --ssh X, --teacher-weights for --weights)."""
        e = type(self)(str(self).replace(used, typed))
        e.__dict__.update(self.__dict__)
        return e


class InvalidName(MliteError):
    """A model name that is not a plain identifier (``/``, ``..``, spaces...)."""


class UnknownModel(MliteError):
    """A name not in the zoo."""


class NotYetSupported(MliteError):
    """A request the toolkit cannot serve yet (e.g. an INT8 zoo entry before INT8 export)."""


class UnknownTarget(MliteError):
    """A conversion target not in the registry."""


class OutputError(MliteError):
    """The output location cannot be written."""


class WeightsError(MliteError):
    """A weights file is missing, of the wrong kind, or does not match the architecture."""


class WeightsUnavailable(WeightsError):
    """Pretrained weights cannot be downloaded (offline, HTTP error)."""


class CorruptDownload(WeightsError):
    """A cached download failed its checks (unreadable, wrong architecture, changed on disk) and was removed."""


class CacheUnwritable(OutputError):
    """The download cache under $MLITE_HOME cannot be written."""


class CorruptFile(MliteError):
    """A file mlite reads (manifest, program, weights, .nb, .onnx, result) is damaged or of the wrong kind."""


class ConversionError(MliteError):
    """An external converter (opt, paddle2onnx, onnxsim) failed."""


class ParityError(MliteError):
    """A converted model's output differs from Paddle's beyond tolerance."""

    exit_code = 3


class Interrupted(MliteError):
    """The user pressed Ctrl-C; nothing half-written is left behind."""

    exit_code = 130
