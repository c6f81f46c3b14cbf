"""Moved to strongroom.rules.prefilter (temporary re-export while tests move)."""

from strongroom.rules.prefilter import *  # noqa: F403
from strongroom.rules.prefilter import HyperscanPrefilter, _cache_dir, make_prefilter  # noqa: F401
