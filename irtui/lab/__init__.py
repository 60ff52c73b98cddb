"""The practice lab: Linux network namespaces acting as SSH hosts, an attacker and a
responder, for trying irtui (and testing it) without touching real machines.

Needs root on Linux. No Textual imports here: the CLI, the TUI and the tests all drive this.
"""

from irtui.lab.info import LabHost, LabInfo
from irtui.lab.lab import check_requirements, lab_down, lab_up
from irtui.lab.spec import LabSpec
from irtui.lab.status import LabStatus, lab_status

__all__ = [
    "LabHost",
    "LabInfo",
    "LabSpec",
    "LabStatus",
    "check_requirements",
    "lab_down",
    "lab_status",
    "lab_up",
]
