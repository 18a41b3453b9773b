"""Pick the array top for a configuration."""

from macforge.golden.config import ArrayConfig
from .os_array import OsArray
from .ws_array import WsArray


def build_top(cfg: ArrayConfig):
    """Return the Amaranth component for ``cfg`` (an :class:`~macforge.rtl.os_array.OsArray` or
    :class:`~macforge.rtl.ws_array.WsArray`)."""
    return OsArray(cfg) if cfg.dataflow == "os" else WsArray(cfg)
