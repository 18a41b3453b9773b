"""Pick the array top for a configuration."""

from golden.config import ArrayConfig
from .os_array import OsArray
from .ws_array import WsArray


def build_top(cfg: ArrayConfig):
    """Return the Amaranth component for ``cfg`` (an :class:`~rtl.os_array.OsArray` or
    :class:`~rtl.ws_array.WsArray`)."""
    return OsArray(cfg) if cfg.dataflow == "os" else WsArray(cfg)
