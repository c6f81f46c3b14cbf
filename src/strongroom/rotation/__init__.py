"""Secret rotation: staged versions moved by a persisted state machine, rotators, the inventory, the drill.

``Rotations(vault)`` sets policies and rotates (``rotate``, ``run_due``); rotators implement
``strongroom.rotation.rotator.Rotator`` and are found by name (``Rotators``: built-ins and the entry-point
group ``strongroom.rotators``). ``docs/rotation.md`` describes the whole lifecycle.
"""

from __future__ import annotations

from strongroom.rotation.engine import RotationResult, Rotations
from strongroom.rotation.policies import PolicySpec, load_policy_file
from strongroom.rotation.registry import ENTRY_POINT_GROUP, Rotators
from strongroom.rotation.rotator import BaseRotator, RotationContext, Rotator

__all__ = [
    "ENTRY_POINT_GROUP",
    "BaseRotator",
    "PolicySpec",
    "RotationContext",
    "RotationResult",
    "Rotations",
    "Rotator",
    "Rotators",
    "load_policy_file",
]
