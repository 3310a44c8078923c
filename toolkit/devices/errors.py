"""Device errors: each message says what happened and what to do."""
from ..errors import MliteError


class DeviceError(MliteError):
    pass


class AdbMissing(DeviceError):
    pass


class NoDevice(DeviceError):
    pass


class AmbiguousDevice(DeviceError):
    pass


class UnknownSerial(DeviceError):
    pass


class DeviceNotReady(DeviceError):
    """Unauthorized, offline, or another state than 'device'."""


class DeviceLost(DeviceError):
    """The device disappeared during an operation."""


class NoSpace(DeviceError):
    pass
