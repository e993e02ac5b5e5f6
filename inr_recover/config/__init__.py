"""Config helpers: ``instantiate`` that lets a :class:`UserError` through unwrapped."""
from __future__ import annotations

import hydra.utils
from hydra.errors import InstantiationException

from inr_recover.errors import UserError


def instantiate(cfg, *args, **kwargs):
    """``hydra.utils.instantiate``, re-raising a user-facing error from the target as itself (one line),
    and a config that names an unknown option or class as a :class:`UserError`. An option whose ``_target_`` is
    null (``scheduler=none``, ``logger=none``) stands for nothing and gives None."""
    if cfg is not None and "_target_" in cfg and cfg["_target_"] is None:
        return None
    try:
        return hydra.utils.instantiate(cfg, *args, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        first = str(e).strip().splitlines()
        raise UserError(" ".join(line.strip() for line in first if line.strip())) from e
